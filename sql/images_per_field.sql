-- images_per_field.sql
-- The production table of the EROS-2 to CDS release, per field: reference images
-- (code d, one per CCD quarter: 2 cameras x 8 CCDs x 4 quarters = 64 when complete),
-- current images (code e, one per CCD and exposure) and the exposures they come from,
-- and the reference images whose WCS is missing or unusable (current images carry no
-- WCS: public_images.sql gives them one).
SELECT
    field,
    SUM(CASE WHEN code = 'd' THEN 1 ELSE 0 END) AS ref_images_d,
    SUM(CASE WHEN code = 'e' THEN 1 ELSE 0 END) AS current_images_e,
    COUNT(DISTINCT CASE WHEN code = 'e' THEN exposure END) AS exposures,
    SUM(CASE WHEN code = 'd' AND wcs IS NULL THEN 1 ELSE 0 END) AS ref_images_without_wcs
FROM images
WHERE field IS NOT NULL
GROUP BY field
ORDER BY field;
