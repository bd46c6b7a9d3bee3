-- variable_stars.sql
-- Stars that vary in both colours: the reduced chi-square of the magnitudes about their
-- weighted mean exceeds 5 in red and in blue (a constant star gives about 1), with the
-- amplitudes and Stetson's J index of the two colours together.
WITH per_colour AS (
    SELECT star_id, colour, lc_stats(mjd, mag, mag_err) AS s
    FROM measurements
    GROUP BY star_id, colour
),
j AS (
    SELECT star_id, stetson_j(mjd, mag, mag_err, colour) AS stetson_j
    FROM measurements
    GROUP BY star_id
)
SELECT
    r.star_id,
    r.s['n'] AS n_r,
    b.s['n'] AS n_b,
    r.s['chi2_dof'] AS chi2_dof_r,
    b.s['chi2_dof'] AS chi2_dof_b,
    r.s['amplitude'] AS amplitude_r,
    b.s['amplitude'] AS amplitude_b,
    j.stetson_j
FROM per_colour r
JOIN per_colour b ON b.star_id = r.star_id AND b.colour = 'B'
JOIN j ON j.star_id = r.star_id
WHERE r.colour = 'R'
  AND r.s['chi2_dof'] > 5
  AND b.s['chi2_dof'] > 5
ORDER BY j.stetson_j DESC, r.star_id;
