-- measurements_per_quarter.sql
-- Measurements and stars per field, colour, CCD and quarter, with the time span:
-- the counts the data manager checks before a release.
SELECT
    field,
    colour,
    ccd,
    quarter,
    COUNT(*) AS n_measurements,
    COUNT(DISTINCT star_id) AS n_stars,
    MIN(mjd) AS first_mjd,
    MAX(mjd) AS last_mjd
FROM measurements
GROUP BY field, colour, ccd, quarter
ORDER BY field, colour, ccd, quarter;
