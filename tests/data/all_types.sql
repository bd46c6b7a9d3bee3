-- Every kind of column an export must carry, with nulls, over the demo catalogue:
-- integers of every width, floats, decimals, booleans, strings with markup, timestamps,
-- arrays, the wcs struct (flattened) and the header map (as text).
SELECT
    i.file_name,
    i.ccd,
    i.naxis1,
    i.mjd_obs,
    i.exptime,
    i.ra_center,
    i.dec_center,
    i.wcs,
    i.header,
    CASE WHEN i.ccd % 2 = 0 THEN i.ccd END AS int_with_nulls,
    CASE WHEN i.ccd % 2 = 0 THEN i.naxis1 END AS long_with_nulls,
    CASE WHEN i.ccd % 2 = 0 THEN i.mjd_obs END AS double_with_nulls,
    CASE WHEN i.ccd % 2 = 0 THEN CAST(i.exptime AS FLOAT) END AS float_with_nulls,
    CASE WHEN i.ccd % 2 = 0 THEN i.colour END AS text_with_nulls,
    CASE WHEN i.ccd % 2 = 0 THEN i.ccd > 3 END AS bool_with_nulls,
    CAST(i.ccd AS TINYINT) AS tiny,
    CAST(i.ccd AS SMALLINT) AS small,
    arrow_cast(i.ccd, 'UInt8') AS ubyte,
    arrow_cast(i.ccd, 'UInt16') AS ushort,
    arrow_cast(i.naxis1, 'UInt32') AS uint,
    CAST(i.mjd_obs AS DECIMAL(12, 5)) AS mjd_decimal,
    'a<b & "c" ''d'' >' AS markup,
    to_timestamp_seconds(CAST((i.mjd_obs - 40587.0) * 86400.0 AS BIGINT)) AS date_obs,
    make_array(i.ra_center, i.dec_center) AS position_array,
    CASE WHEN i.ccd % 2 = 0 THEN make_array(i.ccd, i.ccd + 1, i.ccd + 2) END AS int_array_with_nulls
FROM images i
ORDER BY i.file_name
LIMIT 40
