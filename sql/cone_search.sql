-- cone_search.sql
-- Stars within 0.1 degree of a field's centre, nearest first, with their distance in
-- arcseconds. For a cone of your own, replace f.ra_center, f.dec_center by literal
-- degrees, e.g. cone_contains(s.ra, s.dec, 80.894, -69.756, 0.1).
SELECT
    s.star_id,
    s.ra,
    s.dec,
    ang_sep(s.ra, s.dec, f.ra_center, f.dec_center) * 3600 AS distance_arcsec,
    s.n_r,
    s.n_b,
    s.mean_mag_r
FROM stars s
JOIN fields f ON f.field = s.field
WHERE f.field = (SELECT MIN(field) FROM fields)
  AND cone_contains(s.ra, s.dec, f.ra_center, f.dec_center, 0.1)
ORDER BY distance_arcsec;
