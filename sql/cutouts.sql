-- cutouts.sql
-- 32 x 32 cutouts around the demo's microlensing events, from the public image of every
-- current image taken during the event (t0 - 2 tE to t0 + 2 tE), both colours. Needs the
-- events (`--table events=RAW/truth/events.csv`, columns star_id, t0_mjd, te_days) and the
-- public images of public_images.sql: a relative path in cutout() names a file under the
-- output root. Files go to cutouts/<star_id>/ under the output root.
SELECT
    e.star_id,
    i.colour,
    i.mjd_obs,
    i.file_name,
    cutout(
        'public/' || i.field || '/' || i.file_name,
        s.ra,
        s.dec,
        32,
        'cutouts/' || e.star_id || '/' || replace(i.file_name, '.fits', '_cutout.fits')
    ) AS cutout_path
FROM events e
JOIN stars s ON s.star_id = e.star_id
JOIN images i ON i.field = s.field AND i.ccd = s.ccd AND i.code = 'e'
WHERE i.mjd_obs BETWEEN e.t0_mjd - 2 * e.te_days AND e.t0_mjd + 2 * e.te_days
ORDER BY e.star_id, i.mjd_obs, i.colour;
