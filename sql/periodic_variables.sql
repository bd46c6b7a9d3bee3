-- periodic_variables.sql
-- Periodic variables: a Lomb-Scargle period found independently in both colours (the
-- same period to 1%), significant in each, repeated at least three times, and not a
-- one-day alias of the sampling.
-- :min_period  the shortest period searched, days (optional: 0.3)
-- :max_period  the longest, days (optional: 1000)
WITH periods AS (
    SELECT
        star_id,
        colour,
        lomb_scargle(
            mjd, mag, mag_err,
            COALESCE(CAST(:min_period AS DOUBLE), 0.3),
            COALESCE(CAST(:max_period AS DOUBLE), 1000.0)
        ) AS p,
        lc_stats(mjd, mag, mag_err) AS s
    FROM measurements
    GROUP BY star_id, colour
)
SELECT
    r.star_id,
    r.p['period'] AS period_r,
    b.p['period'] AS period_b,
    r.p['power'] AS power_r,
    b.p['power'] AS power_b,
    r.p['fap'] AS fap_r,
    b.p['fap'] AS fap_b,
    r.s['amplitude'] AS amplitude_r,
    b.s['amplitude'] AS amplitude_b
FROM periods r
JOIN periods b ON b.star_id = r.star_id AND b.colour = 'B'
WHERE r.colour = 'R'
  -- Significant in each colour: Baluev's false-alarm probability of the highest peak.
  AND r.p['fap'] < 1e-4
  AND b.p['fap'] < 1e-4
  -- The same period in both colours (an alias or a noise peak seldom repeats).
  AND abs(r.p['period'] / b.p['period'] - 1) < 0.01
  -- At least three cycles over the light curve (a single bump, such as a microlensing
  -- event, gives a period of the order of the light curve's length).
  AND r.p['period'] < (r.s['last_mjd'] - r.s['first_mjd']) / 3
  -- Not the one-day alias of nightly sampling, nor its half.
  AND abs(r.p['period'] - 1) > 0.02
  AND abs(r.p['period'] - 0.5) > 0.01
ORDER BY r.p['fap'], r.star_id;
