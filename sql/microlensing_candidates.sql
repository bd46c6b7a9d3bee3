-- microlensing_candidates.sql
-- Microlensing candidates, EROS-style: one significant, achromatic, well-fitted bump on
-- an otherwise stable light curve (a Paczynski fit of both colours per star).
WITH fits AS (
    SELECT
        star_id,
        paczynski_fit(mjd, mag, mag_err, colour) AS f,
        MIN(mjd) AS first_mjd,
        MAX(mjd) AS last_mjd
    FROM measurements
    GROUP BY star_id
)
SELECT
    star_id,
    f['t0'] AS t0,
    f['t0_err'] AS t0_err,
    f['te'] AS te,
    f['te_err'] AS te_err,
    f['u0'] AS u0,
    f['u0_err'] AS u0_err,
    f['blend_1'] AS blend_b,
    f['blend_2'] AS blend_r,
    f['n_bump'] AS n_bump,
    f['chi2'] / f['dof'] AS chi2_dof,
    f['delta_chi2'] AS delta_chi2,
    f['achromatic_prob'] AS achromatic_prob
FROM fits
-- The fit converged.
WHERE f['status'] = 'ok'
  -- A significant bump: the constant model's excess chi-square, in units of the fit's
  -- reduced chi-square, is over 3 sigma of a chi-square of dof degrees of freedom (EROS's
  -- normalisation)...
  AND f['delta_chi2'] / (f['chi2'] / f['dof']) / sqrt(2.0 * f['dof']) > 3
  -- ... and over 100 whatever the number of points: noise alone gave at most 36 on 10,000
  -- generated stars, a tail that would reach about 80 on 86 million (docs/SCIENCE.md).
  AND f['delta_chi2'] / (f['chi2'] / f['dof']) > 100
  -- A good fit: the point-lens model explains the whole light curve.
  AND f['chi2'] / f['dof'] < 2
  -- No other variation: away from the bump (|t - t0| > 2 tE) the light curve is as
  -- stable as its errors say.
  AND COALESCE(f['chi2_out'], 0) < 2
  -- Enough points on the bump (|t - t0| < tE) to measure its shape.
  AND f['n_bump'] >= 5
  -- Achromatic: a free amplification per colour is not significantly better.
  AND COALESCE(f['achromatic_prob'], 1) > 0.001
  -- The maximum inside the observations, a real magnification (u0 < 1: A > 1.34), and
  -- an Einstein time between one day and a season and a half.
  AND f['t0'] BETWEEN first_mjd AND last_mjd
  AND f['u0'] < 1
  AND f['te'] BETWEEN 1 AND 500
ORDER BY f['delta_chi2'] DESC, star_id;
