-- quarters_most_measurements.sql
-- For every field, colour and CCD: the measurements of each quarter (k, l, m, n), the
-- richest quarter, the quarter closest to the mosaic centre (the one EROS-2 used to
-- propagate each CCD's astrometric transform) and how many more measurements the
-- richest quarter holds. Propagating from the richest quarter converts more images.
-- Quarters without any measurement count 0 (the `quarters` table lists them all).
WITH per_quarter AS (
    SELECT field, colour, ccd, quarter, COUNT(*) AS n
    FROM measurements
    WHERE ccd IS NOT NULL AND quarter IS NOT NULL
    GROUP BY field, colour, ccd, quarter
),
ccds AS (
    SELECT DISTINCT field, colour, ccd FROM per_quarter
),
grid AS (
    SELECT c.field, c.colour, c.ccd, q.quarter, q.is_central, COALESCE(p.n, 0) AS n
    FROM ccds c
    JOIN quarters q ON q.ccd = c.ccd
    LEFT JOIN per_quarter p
      ON p.field = c.field AND p.colour = c.colour AND p.ccd = c.ccd AND p.quarter = q.quarter
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
