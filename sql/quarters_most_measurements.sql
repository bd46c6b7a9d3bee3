-- quarters_most_measurements.sql
-- For every field, colour and CCD: the measurements of each quarter (k, l, m, n), the
-- richest quarter, the quarter closest to the mosaic centre (the one EROS-2 used to
-- propagate each CCD's astrometric transform) and how many more measurements the
-- richest quarter holds. Propagating from the richest quarter converts more images.
-- Quarters without any measurement count 0 (the `quarters` table lists them all).
-- Measurements without a CCD or quarter (MACHO light curves) join no quarter and drop out.
WITH per_quarter AS (
    SELECT field, colour, ccd, quarter, COUNT(*) AS n
    FROM measurements
    GROUP BY field, colour, ccd, quarter
),
grid AS (
    -- Every quarter of each CCD with data, 0 where it has no measurement; per_quarter is
    -- read once (a CTE used twice would be computed twice).
    SELECT p.field, p.colour, p.ccd, q.quarter, q.is_central,
           SUM(CASE WHEN p.quarter = q.quarter THEN p.n ELSE 0 END) AS n
    FROM per_quarter p
    JOIN quarters q ON q.ccd = p.ccd
    GROUP BY p.field, p.colour, p.ccd, q.quarter, q.is_central
),
ranked AS (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY field, colour, ccd ORDER BY n DESC, quarter) AS rank
    FROM grid
)
SELECT
    field,
    colour,
    ccd,
    SUM(CASE WHEN quarter = 'k' THEN n END) AS n_k,
    SUM(CASE WHEN quarter = 'l' THEN n END) AS n_l,
    SUM(CASE WHEN quarter = 'm' THEN n END) AS n_m,
    SUM(CASE WHEN quarter = 'n' THEN n END) AS n_n,
    MAX(CASE WHEN rank = 1 THEN quarter END) AS best_quarter,
    MAX(CASE WHEN rank = 1 THEN n END) AS best_n,
    MAX(CASE WHEN is_central THEN quarter END) AS central_quarter,
    MAX(CASE WHEN is_central THEN n END) AS central_n,
    MAX(CASE WHEN rank = 1 THEN n END) - MAX(CASE WHEN is_central THEN n END) AS gain
FROM ranked
GROUP BY field, colour, ccd
ORDER BY field, colour, ccd;
