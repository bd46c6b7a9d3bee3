-- cutouts.sql
-- 32 x 32 cutouts around microlensing events, from the public image of every current
-- image taken during the event (t0 - 2 tE to t0 + 2 tE), both colours. Needs two tables:
-- `events` (star_id, t0_mjd, te_days; the demo's RAW/truth/events.csv) and `public`, the
-- result of public_images.sql (field, colour, ccd, file_name, public_path), e.g.
--   skyql query --file sql/public_images.sql --format csv --output public.csv
--   skyql query --table events=events.csv --table public=public.csv --file sql/cutouts.sql
-- Files go to cutouts/<star_id>/ under the output root.
SELECT
    e.star_id,
    i.colour,
    i.mjd_obs,
    i.file_name,
    cutout(
        p.public_path,
        s.ra,
        s.dec,
        32,
        'cutouts/' || e.star_id || '/' || replace(i.file_name, '.fits', '_cutout.fits')
    ) AS cutout_path
FROM events e
JOIN stars s ON s.star_id = e.star_id
JOIN images i ON i.field = s.field AND i.ccd = s.ccd AND i.code = 'e'
JOIN public p ON p.file_name = i.file_name AND p.public_path IS NOT NULL
WHERE i.mjd_obs BETWEEN e.t0_mjd - 2 * e.te_days AND e.t0_mjd + 2 * e.te_days
ORDER BY e.star_id, i.mjd_obs, i.colour;
