-- lightcurve.sql
-- One star's light curve, both colours, by time.
-- :star  the star (optional: without it, the star with the most measurements), e.g.
--        skyql query --named lightcurve --param star=lm0010n22323
-- The star's id is bound as a value; its field lets skyql read one partition only.
SELECT m.star_id, m.mjd, m.colour, m.mag, m.mag_err
FROM measurements m
WHERE m.star_id = COALESCE(
    :star,
    (SELECT star_id FROM stars ORDER BY n_r + n_b DESC, star_id LIMIT 1)
)
ORDER BY m.mjd, m.colour;
