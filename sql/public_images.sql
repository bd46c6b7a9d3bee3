-- public_images.sql
-- Public images with a WCS right everywhere on the CCD. For every field, colour and CCD:
-- the quarter with the most measurements (as in quarters_most_measurements.sql), the
-- astrometric solution of its reference image propagated to the whole CCD (CRPIX moved
-- by the quarter's origin in the CCD), then, for every current image of the CCD, shifted
-- by the exposure's offset from the reference frame (XSHIFT/YSHIFT, from the photometric
-- alignment; 0 when the header has none), written by public_image() under the output
-- root as public/<field>/<file name>. An image receives the solution of a quarter only
-- when some of its measurements lie in that quarter: the photometry aligned it on that
-- quarter's reference (EROS-2 propagated from the quarter closest to the mosaic centre,
-- which converts fewer images). The result lists the files written.
WITH per_quarter AS (
    SELECT field, colour, ccd, quarter, COUNT(*) AS n
    FROM measurements
    WHERE ccd IS NOT NULL AND quarter IS NOT NULL
    GROUP BY field, colour, ccd, quarter
),
ranked AS (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY field, colour, ccd ORDER BY n DESC, quarter) AS rank
    FROM per_quarter
),
best AS (
    SELECT field, colour, ccd, quarter FROM ranked WHERE rank = 1
),
ccd_wcs AS (
    SELECT b.field, b.colour, b.ccd, b.quarter, r.file_name AS reference_file,
           wcs_shift(r.wcs, q.cell_x * r.naxis1, q.cell_y * r.naxis2) AS wcs
    FROM best b
    JOIN images r
      ON r.code = 'd' AND r.wcs IS NOT NULL
     AND r.field = b.field AND r.colour = b.colour AND r.ccd = b.ccd AND r.quarter = b.quarter
    JOIN quarters q ON q.ccd = b.ccd AND q.quarter = b.quarter
),
aligned AS (
    -- Current images with measurements in a quarter (same field, CCD, colour and epoch
    -- to 1e-4 day).
    SELECT DISTINCT c.file_name, m.quarter
    FROM images c
    JOIN measurements m
      ON m.field = c.field AND m.ccd = c.ccd AND m.colour = c.colour
     AND CAST(round(m.mjd * 10000) AS BIGINT) = CAST(round(c.mjd_obs * 10000) AS BIGINT)
    WHERE c.code = 'e'
)
SELECT
    c.field,
    c.colour,
    c.ccd,
    w.quarter AS wcs_quarter,
    c.file_name,
    public_image(
        c.path,
        wcs_shift(
            w.wcs,
            COALESCE(CAST(c.header['XSHIFT'] AS DOUBLE), 0.0),
            COALESCE(CAST(c.header['YSHIFT'] AS DOUBLE), 0.0)
        ),
        'public/' || c.field || '/' || c.file_name,
        'quarter ' || w.quarter || ' (' || w.reference_file || ') propagated to the CCD'
    ) AS public_path
FROM images c
JOIN ccd_wcs w ON w.field = c.field AND w.colour = c.colour AND w.ccd = c.ccd
JOIN aligned a ON a.file_name = c.file_name AND a.quarter = w.quarter
WHERE c.code = 'e'
ORDER BY c.field, c.colour, c.ccd, c.file_name;
