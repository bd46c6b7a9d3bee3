-- lightcurve.sql
-- One star's light curve, both colours, by time. Replace the subquery with the star you
-- want, e.g. WHERE m.star_id = 'lm0010n22323'; as written it takes the star with the
-- most measurements. Filtering on the field too lets skyql read one partition only.
SELECT m.star_id, m.mjd, m.colour, m.mag, m.mag_err
FROM measurements m
WHERE m.star_id = (
    SELECT star_id FROM stars ORDER BY n_r + n_b DESC, star_id LIMIT 1
)
ORDER BY m.mjd, m.colour;
