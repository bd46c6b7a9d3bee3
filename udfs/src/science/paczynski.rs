//! The point-source point-lens (Paczyński 1986) model fitted to a light curve in one or
//! two bands.
//!
//! Model: A(u) = (u² + 2) / (u √(u² + 4)), u(t) = √(u0² + ((t - t0) / tE)²), and in each
//! band a flux Fs A(t) + Fb (source and blend). Magnitudes become fluxes relative to the
//! band's median magnitude, f = 10^(-0.4 (mag - zp)), with σ_f = f 0.4 ln 10 σ_mag.
//!
//! The fit is a variable projection: for given (t0, tE, u0) each band's (Fs, Fb) are the
//! weighted linear least-squares solution (Fb bounded below by [`MIN_BLEND_FLUX`]), so
//! only the three non-linear parameters are searched (t0, ln tE, ln u0). Starting points come from a grid (t0 at the brightest
//! points, tE from 2 to 320 days, u0 from 0.05 to 0.6); the best few are polished by
//! Levenberg-Marquardt with a bounded number of iterations. Uncertainties are the square
//! roots of the diagonal of (JᵀJ)⁻¹ over every parameter (t0, u0, tE and each band's Fs,
//! Fb), not rescaled by χ²/dof; Fb counts as free there even when held on its bound
//! ([`MIN_BLEND_FLUX`]), which makes the errors of such fits conservative.
//!
//! Achromaticity (two bands): the same fit with a second u0 for the second band (a free
//! amplification per band). Δχ² between the common and the free fit is χ²(1) for an
//! achromatic event; it is divided by max(1, χ²/dof) of the free fit (errors often
//! underestimated) and turned into a probability.

use super::dense::{invert, solve};
use super::special::chi2_one_dof_survival;

/// Levenberg-Marquardt iterations allowed per start.
pub const MAX_ITERATIONS: usize = 100;
/// Starts polished by Levenberg-Marquardt.
const STARTS: usize = 3;
/// Candidate times of maximum (the brightest points, at least a day apart).
const T0_CANDIDATES: usize = 8;
const TE_GRID: [f64; 8] = [2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0];
const U0_GRID: [f64; 3] = [0.05, 0.2, 0.6];
/// Bounds of the search (ln u0, ln tE in days).
const LN_U0: (f64, f64) = (-11.5, 2.3);
const LN_TE: (f64, f64) = (-2.3, 9.2);
/// The least blend flux, in units of the band's median flux: a blend is the light of other
/// stars, so it may be negative only by the baseline's errors (an over-subtracted sky, a
/// difference-imaging reference). Without this bound a faint bump is also fitted by a huge
/// source flux and an equal negative blend at u0 of several Einstein radii (blend
/// fractions of 1000 seen on generated events), a shape no lens makes.
pub const MIN_BLEND_FLUX: f64 = -0.1;

/// One band of a light curve in flux.
#[derive(Debug, Clone)]
pub struct Band {
    /// The colour's code (the first byte of its text, or its number).
    pub code: f64,
    /// The median magnitude: the flux zero point.
    pub zero_point: f64,
    t: Vec<f64>,
    f: Vec<f64>,
    /// 1 / σ_f².
    w: Vec<f64>,
}

/// What became of a fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Converged.
    Ok,
    /// The iterations ran out before the χ² settled.
    NotConverged,
    /// Fewer points than parameters + 2 in a band, or a band with no spread in time.
    TooFewPoints,
    /// More than two colours.
    TooManyBands,
    /// The normal equations were singular (e.g. every error the same and no time spread).
    Singular,
}

impl Status {
    /// The name written in the result.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NotConverged => "not_converged",
            Status::TooFewPoints => "too_few_points",
            Status::TooManyBands => "too_many_bands",
            Status::Singular => "singular",
        }
    }
}

/// Per-band results.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandFit {
    /// The colour's code.
    pub code: f64,
    /// Points of the band.
    pub n: usize,
    /// Baseline (unmagnified) magnitude: zp - 2.5 log10(Fs + Fb).
    pub baseline: f64,
    /// Its uncertainty.
    pub baseline_err: f64,
    /// The source's fraction of the baseline flux, Fs / (Fs + Fb) (1: no blend).
    pub blend: f64,
    /// Its uncertainty.
    pub blend_err: f64,
}

/// The result of [`fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// What became of the fit; the values below are `None` unless a fit was made.
    pub status: Status,
    /// Points used (finite, positive error), all bands.
    pub n: usize,
    /// Levenberg-Marquardt iterations of the retained start.
    pub iterations: usize,
    /// Time of maximum (MJD), impact parameter, Einstein time (days), with errors.
    pub t0: Option<(f64, f64)>,
    /// Impact parameter and its error.
    pub u0: Option<(f64, f64)>,
    /// Einstein time and its error.
    pub te: Option<(f64, f64)>,
    /// One or two bands, by increasing colour code.
    pub bands: Vec<BandFit>,
    /// χ² of the model.
    pub chi2: Option<f64>,
    /// Degrees of freedom: points - 3 - 2 per band.
    pub dof: i64,
    /// χ² of a constant flux per band.
    pub chi2_constant: Option<f64>,
    /// Points with |t - t0| < tE.
    pub n_bump: Option<i64>,
    /// χ² per point of the model over the points with |t - t0| > 2 tE (the light curve away
    /// from the event), `None` without such points.
    pub chi2_out_per_point: Option<f64>,
    /// Δχ² of a free amplification per band against the common one (two bands).
    pub chromatic_dchi2: Option<f64>,
    /// The probability of that Δχ² (or more) for an achromatic event.
    pub achromatic_prob: Option<f64>,
}

impl Fit {
    fn empty(status: Status, n: usize, dof: i64) -> Fit {
        Fit {
            status,
            n,
            iterations: 0,
            t0: None,
            u0: None,
            te: None,
            bands: Vec::new(),
            chi2: None,
            dof,
            chi2_constant: None,
            n_bump: None,
            chi2_out_per_point: None,
            chromatic_dchi2: None,
            achromatic_prob: None,
        }
    }
}

/// Magnification of a point lens at separation `u` (Einstein radii).
pub fn magnification(u: f64) -> f64 {
    let u = u.max(1e-12);
    (u * u + 2.0) / (u * (u * u + 4.0).sqrt())
}

/// The bands of a light curve: points with finite time, magnitude and positive error,
/// split by colour code (one band when `colour` is `None`), in increasing code order.
pub fn bands(mjd: &[f64], mag: &[f64], err: &[f64], colour: Option<&[f64]>) -> Vec<Band> {
    // (colour code, its points (t, mag, err)).
    type Points = Vec<(f64, f64, f64)>;
    let mut by_code: Vec<(f64, Points)> = Vec::new();
    for i in 0..mjd.len().min(mag.len()).min(err.len()) {
        let code = colour.map_or(0.0, |c| c.get(i).copied().unwrap_or(f64::NAN));
        let (t, m, e) = (mjd[i], mag[i], err[i]);
        if !(t.is_finite() && m.is_finite() && e.is_finite() && e > 0.0 && code.is_finite()) {
            continue;
        }
        match by_code.iter_mut().find(|(c, _)| *c == code) {
            Some((_, points)) => points.push((t, m, e)),
            None => by_code.push((code, vec![(t, m, e)])),
        }
    }
    by_code.sort_by(|a, b| a.0.total_cmp(&b.0));
    by_code
        .into_iter()
        .map(|(code, points)| {
            let mut mags: Vec<f64> = points.iter().map(|p| p.1).collect();
            mags.sort_by(f64::total_cmp);
            let zero_point = mags[mags.len() / 2];
            let k = 0.4 * std::f64::consts::LN_10;
            let mut band = Band {
                code,
                zero_point,
                t: Vec::with_capacity(points.len()),
                f: Vec::with_capacity(points.len()),
                w: Vec::with_capacity(points.len()),
            };
            for (t, m, e) in points {
                let f = 10f64.powf(-0.4 * (m - zero_point));
                let sigma = f * k * e;
                band.t.push(t);
                band.f.push(f);
                band.w.push(1.0 / (sigma * sigma));
            }
            band
        })
        .collect()
}

/// The non-linear parameters: t0, ln tE, ln u0 (and ln u0 of the second band when
/// chromatic).
type Theta = [f64; 4];

/// A band's linear solution at given amplifications: (Fs, Fb, χ²).
#[derive(Debug, Clone, Copy)]
struct Linear {
    fs: f64,
    fb: f64,
    chi2: f64,
}

fn u0_of(theta: &Theta, band: usize, chromatic: bool) -> f64 {
    if chromatic && band == 1 {
        theta[3].exp()
    } else {
        theta[2].exp()
    }
}

fn amplification(t: f64, t0: f64, te: f64, u0: f64) -> f64 {
    let tau = (t - t0) / te;
    magnification((u0 * u0 + tau * tau).sqrt())
}

/// The weighted linear least squares of f = Fs A + Fb in one pass (χ² from the normal
/// equations).
fn linear(band: &Band, t0: f64, te: f64, u0: f64) -> Option<Linear> {
    let (mut s, mut sa, mut saa, mut sf, mut saf, mut sff) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..band.t.len() {
        let (a, f, w) = (amplification(band.t[i], t0, te, u0), band.f[i], band.w[i]);
        s += w;
        sa += w * a;
        saa += w * a * a;
        sf += w * f;
        saf += w * a * f;
        sff += w * f * f;
    }
    let (fs, fb, _, bounded) = solve_linear(s, sa, saa, sf, saf)?;
    let chi2 = if bounded {
        sff - 2.0 * fs * saf - 2.0 * fb * sf + fs * fs * saa + 2.0 * fs * fb * sa + fb * fb * s
    } else {
        sff - fs * saf - fb * sf
    };
    Some(Linear {
        fs,
        fb,
        chi2: chi2.max(0.0),
    })
}

/// [`solve_two`] with the blend bounded below by [`MIN_BLEND_FLUX`]: (Fs, Fb, the
/// determinant, whether the bound holds Fb). On the bound Fs alone is fitted, Fs = Σw A (f
/// - Fb) / Σw A².
fn solve_linear(s: f64, sa: f64, saa: f64, sf: f64, saf: f64) -> Option<(f64, f64, f64, bool)> {
    let (fs, fb, det) = solve_two(s, sa, saa, sf, saf)?;
    if fb >= MIN_BLEND_FLUX {
        return Some((fs, fb, det, false));
    }
    let fb = MIN_BLEND_FLUX;
    Some(((saf - fb * sa) / saa, fb, det, true))
}

/// The weighted least squares of f = Fs A + Fb from its sums (Σw, Σw A, Σw A², Σw f,
/// Σw A f): (Fs, Fb, the determinant of the normal equations), `None` when the
/// amplification does not vary over the points.
fn solve_two(s: f64, sa: f64, saa: f64, sf: f64, saf: f64) -> Option<(f64, f64, f64)> {
    let det = saa * s - sa * sa;
    let well_posed = det > 1e-12 * saa * s;
    well_posed.then(|| ((s * saf - sa * sf) / det, (saa * sf - sa * saf) / det, det))
}

fn total_chi2(bands: &[Band], theta: &Theta, chromatic: bool) -> Option<f64> {
    let te = theta[1].exp();
    let mut chi2 = 0.0;
    for (b, band) in bands.iter().enumerate() {
        chi2 += linear(band, theta[0], te, u0_of(theta, b, chromatic))?.chi2;
    }
    Some(chi2)
}

/// Weighted residuals of the projected problem in `r`, and in `jac` (row-major, `k`
/// columns) their exact derivatives by θ, the linear parameters following θ (Golub &
/// Pereyra's variable-projection Jacobian); the χ².
///
/// Per band, with design columns (A, 1), c = (Fs, Fb) = G⁻¹ Φᵀ W f, G = Φᵀ W Φ, ρ = f - Φ c
/// and d = Fs ∂A/∂θ: ∂c/∂θ = G⁻¹ (Σ w ρ ∂A/∂θ - Σ w A d, -Σ w d), and the residual
/// √w ρ changes by -√w (d + A ∂Fs/∂θ + ∂Fb/∂θ).
fn residuals(
    bands: &[Band],
    theta: &Theta,
    chromatic: bool,
    r: &mut Vec<f64>,
    jac: &mut Vec<f64>,
) -> Option<f64> {
    let k = if chromatic { 4 } else { 3 };
    r.clear();
    jac.clear();
    let (t0, te) = (theta[0], theta[1].exp());
    let mut chi2 = 0.0;
    let (mut a, mut da) = (Vec::new(), Vec::new());
    for (b, band) in bands.iter().enumerate() {
        let u0 = u0_of(theta, b, chromatic);
        let u0_column = if chromatic && b == 1 { 3 } else { 2 };
        let n = band.t.len();
        a.clear();
        da.clear();
        da.resize(n * k, 0.0);
        let (mut s, mut sa, mut saa, mut sf, mut saf) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in 0..n {
            let tau = (band.t[i] - t0) / te;
            let u = (u0 * u0 + tau * tau).sqrt().max(1e-12);
            let ai = magnification(u);
            // dA/dθ for θ = t0, ln tE, ln u0.
            let g = -8.0 / (u * u * (u * u + 4.0).powf(1.5));
            da[i * k] = g * (-tau / (u * te));
            da[i * k + 1] = g * (-tau * tau / u);
            da[i * k + u0_column] = g * (u0 * u0 / u);
            let (w, f) = (band.w[i], band.f[i]);
            s += w;
            sa += w * ai;
            saa += w * ai * ai;
            sf += w * f;
            saf += w * ai * f;
            a.push(ai);
        }
        let (fs, fb, det, bounded) = solve_linear(s, sa, saa, sf, saf)?;
        // Σ w ρ ∂A, Σ w A d, Σ w d per column.
        let (mut s1, mut s2, mut s3) = ([0.0; 4], [0.0; 4], [0.0; 4]);
        for i in 0..n {
            let w = band.w[i];
            let rho = band.f[i] - fs * a[i] - fb;
            for p in 0..k {
                let d = fs * da[i * k + p];
                s1[p] += w * rho * da[i * k + p];
                s2[p] += w * a[i] * d;
                s3[p] += w * d;
            }
        }
        // G⁻¹ = [[s, -sa], [-sa, saa]] / det for G = [[saa, sa], [sa, s]]; with the blend on
        // its bound, G = Σ w A² and Fb does not move.
        let (mut dfs, mut dfb) = ([0.0; 4], [0.0; 4]);
        for p in 0..k {
            let (x, y) = (s1[p] - s2[p], -s3[p]);
            if bounded {
                dfs[p] = x / saa;
            } else {
                dfs[p] = (s * x - sa * y) / det;
                dfb[p] = (-sa * x + saa * y) / det;
            }
        }
        for i in 0..n {
            let sw = band.w[i].sqrt();
            let ri = (band.f[i] - fs * a[i] - fb) * sw;
            chi2 += ri * ri;
            r.push(ri);
            for p in 0..k {
                let d = fs * da[i * k + p];
                jac.push(-sw * (d + a[i] * dfs[p] + dfb[p]));
            }
        }
    }
    Some(chi2)
}

fn clamp_theta(theta: &mut Theta, t_range: (f64, f64)) {
    let span = (t_range.1 - t_range.0).max(1.0);
    theta[0] = theta[0].clamp(t_range.0 - span, t_range.1 + span);
    theta[1] = theta[1].clamp(LN_TE.0, LN_TE.1);
    theta[2] = theta[2].clamp(LN_U0.0, LN_U0.1);
    theta[3] = theta[3].clamp(LN_U0.0, LN_U0.1);
}

/// Levenberg-Marquardt on the projected residuals from `start`: (θ, χ², iterations,
/// converged).
fn polish(
    bands: &[Band],
    start: Theta,
    chromatic: bool,
    t_range: (f64, f64),
) -> Option<(Theta, f64, usize, bool)> {
    let k = if chromatic { 4 } else { 3 };
    let mut theta = start;
    let (mut r, mut jac) = (Vec::new(), Vec::new());
    let mut chi2 = residuals(bands, &theta, chromatic, &mut r, &mut jac)?;
    let m = r.len();
    let mut lambda = 1e-3;
    for iteration in 1..=MAX_ITERATIONS {
        let mut jtj = vec![0.0; k * k];
        let mut jtr = vec![0.0; k];
        for i in 0..m {
            let row = &jac[i * k..(i + 1) * k];
            for a in 0..k {
                jtr[a] += row[a] * r[i];
                for b in 0..k {
                    jtj[a * k + b] += row[a] * row[b];
                }
            }
        }
        let mut improved = false;
        while lambda < 1e12 {
            let mut a = jtj.clone();
            for d in 0..k {
                a[d * k + d] += lambda * jtj[d * k + d].max(1e-12);
            }
            let mut step: Vec<f64> = jtr.iter().map(|g| -g).collect();
            if solve(&mut a, &mut step, k) {
                let mut trial = theta;
                for p in 0..k {
                    trial[p] += step[p];
                }
                clamp_theta(&mut trial, t_range);
                // A step that no longer moves θ (a minimum, or a bound reached): done.
                let scale = [theta[1].exp(), 1.0, 1.0, 1.0];
                if (0..k).all(|p| (trial[p] - theta[p]).abs() <= 1e-7 * scale[p]) {
                    return Some((theta, chi2, iteration, true));
                }
                if let Some(c) = total_chi2(bands, &trial, chromatic)
                    && c < chi2
                {
                    let gain = chi2 - c;
                    theta = trial;
                    lambda = (lambda / 3.0).max(1e-12);
                    chi2 = residuals(bands, &theta, chromatic, &mut r, &mut jac)?;
                    improved = true;
                    // Settled: a gain of 1e-6 in χ² (far below any change of 1σ).
                    if gain <= 1e-6 * chi2.max(1.0) {
                        return Some((theta, chi2, iteration, true));
                    }
                    break;
                }
            }
            lambda *= 4.0;
        }
        if !improved {
            // No step lowers χ²: a minimum to working precision.
            return Some((theta, chi2, iteration, true));
        }
    }
    Some((theta, chi2, MAX_ITERATIONS, false))
}

/// Starting points from a grid: t0 at the brightest points (by their significance above
/// the band's median flux) and at the centre of the most significant run of points for
/// each tE of the grid (a faint bump is found by its run, not by one point); tE and u0
/// from fixed grids; the best `STARTS` by χ².
fn starts(bands: &[Band]) -> Vec<Theta> {
    let mut bright: Vec<(f64, f64)> = Vec::new();
    for band in bands {
        let mut f = band.f.clone();
        f.sort_by(f64::total_cmp);
        let median = f[f.len() / 2];
        for i in 0..band.t.len() {
            bright.push((band.t[i], (band.f[i] - median) * band.w[i].sqrt()));
        }
    }
    let mut t0s: Vec<f64> = Vec::new();
    let add = |t: f64, t0s: &mut Vec<f64>| {
        if t0s.iter().all(|x| (x - t).abs() > 1.0) {
            t0s.push(t);
        }
    };
    // Runs: the summed significance within ±tE of each point over √(points), by prefix
    // sums over the points in time order.
    bright.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut prefix = vec![0.0; bright.len() + 1];
    for (i, p) in bright.iter().enumerate() {
        prefix[i + 1] = prefix[i] + p.1;
    }
    for te in TE_GRID {
        let (mut lo, mut hi) = (0usize, 0usize);
        let mut best = (f64::NEG_INFINITY, f64::NAN);
        for &(t, _) in &bright {
            while bright[lo].0 < t - te {
                lo += 1;
            }
            while hi < bright.len() && bright[hi].0 <= t + te {
                hi += 1;
            }
            let score = (prefix[hi] - prefix[lo]) / ((hi - lo) as f64).sqrt();
            if score > best.0 {
                best = (score, t);
            }
        }
        if best.1.is_finite() {
            add(best.1, &mut t0s);
        }
    }
    bright.sort_by(|a, b| b.1.total_cmp(&a.1));
    let runs = t0s.len();
    for &(t, _) in &bright {
        add(t, &mut t0s);
        if t0s.len() >= runs + T0_CANDIDATES {
            break;
        }
    }
    let mut scored: Vec<(f64, Theta)> = Vec::new();
    for &t0 in &t0s {
        for te in TE_GRID {
            for u0 in U0_GRID {
                let theta = [t0, te.ln(), u0.ln(), u0.ln()];
                if let Some(c) = total_chi2(bands, &theta, false) {
                    scored.push((c, theta));
                }
            }
        }
    }
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut chosen: Vec<Theta> = Vec::new();
    for (_, theta) in scored {
        // Distinct starts: another t0 or a tE at least a grid step away.
        if chosen
            .iter()
            .all(|c| (c[0] - theta[0]).abs() > 1.0 || (c[1] - theta[1]).abs() > 0.5)
        {
            chosen.push(theta);
        }
        if chosen.len() == STARTS {
            break;
        }
    }
    chosen
}

/// Fits the light curve (`colour` codes split it into bands; `None`: one band).
pub fn fit(mjd: &[f64], mag: &[f64], err: &[f64], colour: Option<&[f64]>) -> Fit {
    let bands = bands(mjd, mag, err, colour);
    let n: usize = bands.iter().map(|b| b.t.len()).sum();
    let parameters = 3 + 2 * bands.len();
    let dof = n as i64 - parameters as i64;
    if bands.len() > 2 {
        return Fit::empty(Status::TooManyBands, n, dof);
    }
    let spread = |b: &Band| {
        let (lo, hi) =
            b.t.iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, c), &x| {
                    (a.min(x), c.max(x))
                });
        hi > lo
    };
    if bands.is_empty() || bands.iter().any(|b| b.t.len() < 5 || !spread(b)) || dof < 2 {
        return Fit::empty(Status::TooFewPoints, n, dof);
    }
    let t_range = bands
        .iter()
        .flat_map(|b| b.t.iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, c), &x| {
            (a.min(x), c.max(x))
        });
    let best = starts(&bands)
        .into_iter()
        .filter_map(|s| polish(&bands, s, false, t_range))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let Some((theta, chi2, iterations, converged)) = best else {
        return Fit::empty(Status::Singular, n, dof);
    };
    let Some(mut result) = describe(&bands, &theta, chi2, n, dof) else {
        return Fit::empty(Status::Singular, n, dof);
    };
    result.iterations = iterations;
    result.status = if converged {
        Status::Ok
    } else {
        Status::NotConverged
    };
    // The free fit starts from the common one: the second band's u0 at the fitted u0 (the
    // common fit leaves θ[3] at its start's value), so that its χ² is at most the common's.
    let mut free = theta;
    free[3] = theta[2];
    if bands.len() == 2
        && let Some((_, chi2_free, _, _)) = polish(&bands, free, true, t_range)
    {
        let dchi2 = (chi2 - chi2_free).max(0.0);
        let scale = (chi2_free / (dof - 1).max(1) as f64).max(1.0);
        result.chromatic_dchi2 = Some(dchi2);
        result.achromatic_prob = Some(chi2_one_dof_survival(dchi2 / scale));
    }
    result
}

/// The statistics and uncertainties at the solution θ.
fn describe(bands: &[Band], theta: &Theta, chi2: f64, n: usize, dof: i64) -> Option<Fit> {
    let (t0, te, u0) = (theta[0], theta[1].exp(), theta[2].exp());
    let linears: Vec<Linear> = bands
        .iter()
        .map(|b| linear(b, t0, te, u0))
        .collect::<Option<_>>()?;
    // Full Jacobian of the weighted model: t0, u0, tE, then (Fs, Fb) per band.
    let k = 3 + 2 * bands.len();
    let mut jtj = vec![0.0; k * k];
    let mut row = vec![0.0; k];
    let (mut n_bump, mut chi2_out, mut n_out, mut chi2_constant) = (0i64, 0.0, 0usize, 0.0);
    for (b, (band, l)) in bands.iter().zip(&linears).enumerate() {
        let (sw, swf) = band
            .w
            .iter()
            .zip(&band.f)
            .fold((0.0, 0.0), |(a, c), (w, f)| (a + w, c + w * f));
        let mean = swf / sw;
        for i in 0..band.t.len() {
            let tau = (band.t[i] - t0) / te;
            let u = (u0 * u0 + tau * tau).sqrt().max(1e-12);
            let a = magnification(u);
            let da_du = -8.0 / (u * u * (u * u + 4.0).powf(1.5));
            let sw = band.w[i].sqrt();
            row.iter_mut().for_each(|x| *x = 0.0);
            row[0] = sw * l.fs * da_du * (-tau / (u * te));
            row[1] = sw * l.fs * da_du * (u0 / u);
            row[2] = sw * l.fs * da_du * (-tau * tau / (u * te));
            row[3 + 2 * b] = sw * a;
            row[4 + 2 * b] = sw;
            for p in 0..k {
                for q in 0..k {
                    jtj[p * k + q] += row[p] * row[q];
                }
            }
            let r2 = (band.f[i] - l.fs * a - l.fb).powi(2) * band.w[i];
            if tau.abs() < 1.0 {
                n_bump += 1;
            } else if tau.abs() > 2.0 {
                chi2_out += r2;
                n_out += 1;
            }
            chi2_constant += (band.f[i] - mean).powi(2) * band.w[i];
        }
    }
    // A flat light curve (Fs near 0) leaves t0, u0 and tE undetermined: the values are
    // still given, their errors are NaN (null in SQL).
    let cov = invert(&jtj, k).unwrap_or_else(|| vec![f64::NAN; k * k]);
    let sd = |p: usize| cov[p * k + p].max(0.0).sqrt();
    let band_fits = bands
        .iter()
        .zip(&linears)
        .enumerate()
        .map(|(b, (band, l))| {
            let (i, j) = (3 + 2 * b, 4 + 2 * b);
            let total = l.fs + l.fb;
            let var_total = cov[i * k + i] + cov[j * k + j] + 2.0 * cov[i * k + j];
            // blend = Fs / (Fs + Fb): gradient (Fb, -Fs) / total².
            let (gs, gb) = (l.fb / (total * total), -l.fs / (total * total));
            let var_blend = gs * gs * cov[i * k + i]
                + gb * gb * cov[j * k + j]
                + 2.0 * gs * gb * cov[i * k + j];
            BandFit {
                code: band.code,
                n: band.t.len(),
                baseline: band.zero_point - 2.5 * total.log10(),
                baseline_err: 2.5 / std::f64::consts::LN_10 * var_total.max(0.0).sqrt()
                    / total.abs(),
                blend: l.fs / total,
                blend_err: var_blend.max(0.0).sqrt(),
            }
        })
        .collect();
    Some(Fit {
        status: Status::Ok,
        n,
        iterations: 0,
        t0: Some((t0, sd(0))),
        u0: Some((u0, sd(1))),
        te: Some((te, sd(2))),
        bands: band_fits,
        chi2: Some(chi2),
        dof,
        chi2_constant: Some(chi2_constant),
        n_bump: Some(n_bump),
        chi2_out_per_point: (n_out > 0).then(|| chi2_out / n_out as f64),
        chromatic_dchi2: None,
        achromatic_prob: None,
    })
}

#[cfg(test)]
mod tests {
    use super::{Status, fit, magnification};

    /// A two-colour event sampled every 3 days over 600 days with deterministic noise.
    fn event(t0: f64, te: f64, u0: f64, blend: [f64; 2], chromatic: f64) -> [Vec<f64>; 4] {
        let (mut t, mut m, mut e, mut c) = (vec![], vec![], vec![], vec![]);
        for i in 0..200 {
            let ti = 51_000.0 + 3.0 * i as f64 + 0.3 * ((i * 13) as f64).sin();
            for (band, base) in [(0usize, 18.0), (1, 18.6)] {
                let u0b = if band == 1 { u0 * chromatic } else { u0 };
                let tau = (ti - t0) / te;
                let a = magnification((u0b * u0b + tau * tau).sqrt());
                let fs = blend[band];
                let mag = base - 2.5 * (fs * a + 1.0 - fs).log10();
                let noise = 0.01 * (((i * 7 + band * 3) as f64) * 1.618).sin();
                t.push(ti);
                m.push(mag + noise);
                e.push(0.01);
                c.push(band as f64 + 66.0);
            }
        }
        [t, m, e, c]
    }

    #[test]
    fn a_blended_two_colour_event_is_recovered() {
        let [t, m, e, c] = event(51_300.0, 35.0, 0.15, [0.7, 0.5], 1.0);
        let f = fit(&t, &m, &e, Some(&c));
        assert_eq!(f.status, Status::Ok, "{f:?}");
        let (t0, t0_err) = f.t0.unwrap();
        let (te, _) = f.te.unwrap();
        let (u0, _) = f.u0.unwrap();
        assert!(
            (t0 - 51_300.0).abs() < 0.2 && t0_err > 0.0 && t0_err < 0.5,
            "{f:?}"
        );
        assert!((te - 35.0).abs() / 35.0 < 0.02, "{f:?}");
        assert!((u0 - 0.15).abs() < 0.01, "{f:?}");
        assert_eq!(f.bands.len(), 2);
        assert!((f.bands[0].blend - 0.7).abs() < 0.03, "{f:?}");
        assert!((f.bands[1].blend - 0.5).abs() < 0.03, "{f:?}");
        assert!((f.bands[0].baseline - 18.0).abs() < 0.01, "{f:?}");
        assert!(f.achromatic_prob.unwrap() > 0.01, "{f:?}");
        assert!(f.chi2_constant.unwrap() > 100.0 * f.chi2.unwrap());
        // |t - t0| < tE: 70 days of 3-day sampling in two bands.
        let bump = f.n_bump.unwrap();
        assert!((44..=48).contains(&bump), "{bump}");
    }

    #[test]
    fn a_faint_bump_is_fitted_by_a_lens_not_by_a_negative_blend() {
        // A faint star (errors of 0.2 mag), one point every 6 days over 7 years, a blended
        // event of 0.3 mag at most: unbounded, the blend went to -1000 times the baseline
        // at u0 near 10. Gaussian noise from a fixed linear congruential generator.
        let mut state = 2u64;
        let mut uniform = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let (mut t, mut m, mut e, mut c) = (vec![], vec![], vec![], vec![]);
        for i in 0..420 {
            let ti = 50_000.0 + 6.0 * i as f64;
            for (band, fs) in [(0usize, 0.55), (1, 0.6)] {
                let tau = (ti - 51_000.0) / 40.0;
                let a = magnification((0.35f64 * 0.35 + tau * tau).sqrt());
                let gauss =
                    (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
                t.push(ti);
                m.push(20.6 - 2.5 * (fs * a + 1.0 - fs).log10() + 0.2 * gauss);
                e.push(0.2);
                c.push(band as f64);
            }
        }
        let f = fit(&t, &m, &e, Some(&c));
        assert_eq!(f.status, Status::Ok, "{f:?}");
        for band in &f.bands {
            // Fb = total (1 - blend) >= MIN_BLEND_FLUX (-0.1), the total near the median's
            // flux.
            assert!(band.blend < 1.15, "{f:?}");
        }
        assert!(f.u0.unwrap().0 < 1.0, "{f:?}");
        assert!((f.t0.unwrap().0 - 51_000.0).abs() < 10.0, "{f:?}");
    }

    #[test]
    fn a_chromatic_bump_is_told_apart() {
        let [t, m, e, c] = event(51_300.0, 35.0, 0.15, [1.0, 1.0], 2.0);
        let f = fit(&t, &m, &e, Some(&c));
        assert!(f.achromatic_prob.unwrap() < 1e-6, "{f:?}");
    }

    #[test]
    fn too_few_points_and_bad_values_are_a_status_not_an_error() {
        let f = fit(&[1.0, 2.0, 3.0], &[18.0; 3], &[0.01; 3], None);
        assert_eq!(f.status, Status::TooFewPoints);
        let f = fit(&[f64::NAN; 10], &[18.0; 10], &[0.01; 10], None);
        assert_eq!(f.status, Status::TooFewPoints);
        let colours = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0];
        let f = fit(&[1.0; 6], &[18.0; 6], &[0.01; 6], Some(&colours));
        assert_eq!(f.status, Status::TooManyBands);
        // A constant star: a fit is made; the bump is no better than a constant.
        let t: Vec<f64> = (0..100).map(|i| 50_000.0 + 5.0 * i as f64).collect();
        let m: Vec<f64> = (0..100)
            .map(|i| 18.0 + 0.01 * ((i * 7) as f64).sin())
            .collect();
        let f = fit(&t, &m, &vec![0.01; 100], None);
        assert!(f.chi2_constant.unwrap() - f.chi2.unwrap() < 20.0, "{f:?}");
    }
}
