//! The generalised (floating-mean) Lomb-Scargle periodogram of Zechmeister & Kürster
//! (2009), with the conventions of astropy's `LombScargle` so that results can be
//! compared: weights 1/err², the data centred on their weighted mean, a mean fitted at
//! every frequency, the "standard" normalisation (power = 1 - χ²(f) / χ²(constant), between
//! 0 and 1), `autopower`'s frequency grid and Baluev's (2008) false-alarm probability.

use rustfft::num_complex::Complex64;

use super::special::ln_gamma;
use super::trig_sums::{direct, trig_sums};

/// Frequencies per peak width (1 / baseline), as astropy's `samples_per_peak`.
pub const SAMPLES_PER_PEAK: f64 = 5.0;
/// Multiple of the average Nyquist frequency searched by default (`nyquist_factor`).
pub const NYQUIST_FACTOR: f64 = 5.0;
/// The most frequencies one periodogram may have (memory and time bound per light curve).
pub const MAX_FREQUENCIES: usize = 1 << 22;

/// A regular frequency grid: `first + k step` for k < `count` (cycles per day).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// The first frequency.
    pub first: f64,
    /// The step.
    pub step: f64,
    /// The number of frequencies.
    pub count: usize,
}

impl Grid {
    /// The last frequency.
    pub fn last(&self) -> f64 {
        self.first + self.step * (self.count.saturating_sub(1)) as f64
    }

    /// The k-th frequency.
    pub fn frequency(&self, k: usize) -> f64 {
        self.first + self.step * k as f64
    }
}

/// Why there is no grid.
#[derive(Debug, Clone, PartialEq)]
pub enum GridError {
    /// Fewer than two distinct times.
    NoBaseline,
    /// The period range is empty or not positive.
    BadRange,
    /// More than [`MAX_FREQUENCIES`] frequencies.
    TooManyFrequencies(usize),
}

/// astropy's `autofrequency`: step 1 / (5 baseline); from half a step (or 1 / max_period)
/// to 5 times the average Nyquist frequency n / (2 baseline) (or 1 / min_period).
pub fn autopower_grid(
    t: &[f64],
    min_period: Option<f64>,
    max_period: Option<f64>,
) -> Result<Grid, GridError> {
    let (lo, hi) = t
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let baseline = hi - lo;
    if !(baseline > 0.0 && baseline.is_finite()) {
        return Err(GridError::NoBaseline);
    }
    let step = 1.0 / baseline / SAMPLES_PER_PEAK;
    let first = match max_period {
        Some(p) if p > 0.0 && p.is_finite() => 1.0 / p,
        Some(_) => return Err(GridError::BadRange),
        None => 0.5 * step,
    };
    let last = match min_period {
        Some(p) if p > 0.0 && p.is_finite() => 1.0 / p,
        Some(_) => return Err(GridError::BadRange),
        None => NYQUIST_FACTOR * 0.5 * t.len() as f64 / baseline,
    };
    if last < first {
        return Err(GridError::BadRange);
    }
    let count = 1.0 + ((last - first) / step).round();
    if count > MAX_FREQUENCIES as f64 {
        return Err(GridError::TooManyFrequencies(count as usize));
    }
    Ok(Grid {
        first,
        step,
        count: count as usize,
    })
}

/// A method of computing the trigonometric sums ([`super::trig_sums`]).
type TrigSums = fn(&[f64], &[f64], f64, f64, usize) -> Vec<Complex64>;

/// A light curve prepared for the periodogram: times from the first one, normalised
/// weights, magnitudes centred on their weighted mean.
#[derive(Debug, Clone)]
pub struct Prepared {
    t: Vec<f64>,
    w: Vec<f64>,
    y: Vec<f64>,
    /// Σ w y² of the centred data (the constant model's χ² over Σ 1/err²).
    yy: f64,
}

impl Prepared {
    /// The finite points (and, with errors, those with a positive error); `None` with
    /// fewer than three.
    pub fn new(mjd: &[f64], mag: &[f64], err: Option<&[f64]>) -> Option<Prepared> {
        let mut t = Vec::with_capacity(mjd.len());
        let mut w = Vec::with_capacity(mjd.len());
        let mut y = Vec::with_capacity(mjd.len());
        for i in 0..mjd.len().min(mag.len()) {
            let e = err.map_or(1.0, |e| e.get(i).copied().unwrap_or(f64::NAN));
            if mjd[i].is_finite() && mag[i].is_finite() && e.is_finite() && e > 0.0 {
                t.push(mjd[i]);
                w.push(1.0 / (e * e));
                y.push(mag[i]);
            }
        }
        if t.len() < 3 {
            return None;
        }
        let t_first = t.iter().copied().fold(f64::INFINITY, f64::min);
        t.iter_mut().for_each(|x| *x -= t_first);
        let total: f64 = w.iter().sum();
        w.iter_mut().for_each(|x| *x /= total);
        let mean: f64 = w.iter().zip(&y).map(|(w, y)| w * y).sum();
        y.iter_mut().for_each(|x| *x -= mean);
        let yy = w.iter().zip(&y).map(|(w, y)| w * y * y).sum();
        Some(Prepared { t, w, y, yy })
    }

    /// Points used.
    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// Never true (construction needs three points).
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// The times, from the first one.
    pub fn times(&self) -> &[f64] {
        &self.t
    }

    /// The power at every frequency of `grid`.
    pub fn power(&self, grid: &Grid) -> Vec<f64> {
        self.power_with(grid, trig_sums)
    }

    /// The power at one frequency, from exact sums.
    pub fn power_at(&self, frequency: f64) -> f64 {
        let grid = Grid {
            first: frequency,
            step: 0.0,
            count: 1,
        };
        self.power_with(&grid, direct)[0]
    }

    fn power_with(&self, grid: &Grid, sums: TrigSums) -> Vec<f64> {
        if self.yy <= 0.0 {
            return vec![0.0; grid.count];
        }
        let wy: Vec<f64> = self.w.iter().zip(&self.y).map(|(w, y)| w * y).collect();
        let s1 = sums(&self.t, &self.w, grid.first, grid.step, grid.count);
        let s2 = sums(
            &self.t,
            &self.w,
            2.0 * grid.first,
            2.0 * grid.step,
            grid.count,
        );
        let sy = sums(&self.t, &wy, grid.first, grid.step, grid.count);
        (0..grid.count)
            .map(|k| self.power_from_sums(s1[k], s2[k], sy[k]))
            .collect()
    }

    /// The power from Σ w e^{iωt}, Σ w e^{2iωt} and Σ w y e^{iωt}, with the time offset τ
    /// that makes the sine and cosine terms orthogonal.
    fn power_from_sums(&self, s1: Complex64, s2: Complex64, sy: Complex64) -> f64 {
        let (c, s) = (s1.re, s1.im);
        let (c2, s2) = (s2.re, s2.im);
        // tan 2ωτ = (S2 - 2 C S) / (C2 - (C² - S²)) for the floating mean.
        let two_tau = (s2 - 2.0 * c * s).atan2(c2 - (c * c - s * s));
        let (sin_t, cos_t) = (0.5 * two_tau).sin_cos();
        let (sin_2t, cos_2t) = two_tau.sin_cos();
        let yc = sy.re * cos_t + sy.im * sin_t;
        let ys = sy.im * cos_t - sy.re * sin_t;
        let c_tau = c * cos_t + s * sin_t;
        let s_tau = s * cos_t - c * sin_t;
        let cc = 0.5 * (1.0 + c2 * cos_2t + s2 * sin_2t) - c_tau * c_tau;
        let ss = 0.5 * (1.0 - c2 * cos_2t - s2 * sin_2t) - s_tau * s_tau;
        let mut p = 0.0;
        if cc > 1e-300 {
            p += yc * yc / cc;
        }
        if ss > 1e-300 {
            p += ys * ys / ss;
        }
        (p / self.yy).clamp(0.0, 1.0)
    }

    /// Baluev's (2008) false-alarm probability of the highest peak `z` of a standard
    /// periodogram searched up to `max_frequency` (astropy's `method='baluev'`).
    pub fn false_alarm_probability(&self, z: f64, max_frequency: f64) -> f64 {
        let n = self.len() as f64;
        let (nh, nk) = (n - 1.0, n - 3.0);
        if nk <= 0.0 {
            return 1.0;
        }
        let mean_t: f64 = self.w.iter().zip(&self.t).map(|(w, t)| w * t).sum();
        let var_t: f64 = self
            .w
            .iter()
            .zip(&self.t)
            .map(|(w, t)| w * (t - mean_t) * (t - mean_t))
            .sum();
        let effective_baseline = (4.0 * std::f64::consts::PI * var_t).sqrt();
        let w = max_frequency * effective_baseline;
        let gamma = (2.0 / nh).sqrt() * (ln_gamma(nh / 2.0) - ln_gamma((nh - 1.0) / 2.0)).exp();
        let z = z.clamp(0.0, 1.0);
        let fap_single = (1.0 - z).powf(0.5 * nk);
        let tau = gamma * w * (1.0 - z).powf(0.5 * (nk - 1.0)) * (0.5 * nh * z).sqrt();
        (-(-tau).exp_m1() + fap_single * (-tau).exp()).clamp(0.0, 1.0)
    }
}

/// The best peak of a periodogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// Frequency (cycles per day).
    pub frequency: f64,
    /// Power at that frequency (exact sums).
    pub power: f64,
    /// Baluev's false-alarm probability.
    pub fap: f64,
}

/// Local maxima re-evaluated with exact sums before the best is chosen (the fast sums
/// can reorder peaks of nearly equal height).
const PEAKS_CHECKED: usize = 5;

/// The highest peak of the periodogram on `grid`, its frequency refined between the
/// neighbouring grid frequencies (a golden-section search on the exact power), so that a
/// long period is not limited to the grid's step (1 / (5 baseline) in frequency: 0.4% of
/// a 60-day period over seven years).
pub fn best_peak(data: &Prepared, grid: &Grid) -> Option<Peak> {
    let power = data.power(grid);
    let mut maxima: Vec<usize> = (0..power.len())
        .filter(|&k| {
            let left = k == 0 || power[k - 1] <= power[k];
            let right = k + 1 == power.len() || power[k + 1] < power[k];
            left && right
        })
        .collect();
    maxima.sort_by(|a, b| power[*b].total_cmp(&power[*a]));
    maxima.truncate(PEAKS_CHECKED);
    let (frequency, power) = maxima
        .into_iter()
        .map(|k| {
            let f = grid.frequency(k);
            (f, data.power_at(f))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let (lo, hi) = (
        (frequency - grid.step).max(grid.first),
        (frequency + grid.step).min(grid.last()),
    );
    let (frequency, power) = refine(|f| data.power_at(f), lo, hi, (frequency, power));
    Some(Peak {
        frequency,
        power,
        fap: data.false_alarm_probability(power, grid.last()),
    })
}

/// The maximum of `power` on [lo, hi] by golden-section search (to 1e-5 of the interval),
/// or `start` when it is higher.
fn refine(power: impl Fn(f64) -> f64, lo: f64, hi: f64, start: (f64, f64)) -> (f64, f64) {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (lo, hi);
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut pc, mut pd) = (power(c), power(d));
    let tolerance = 1e-5 * (hi - lo);
    while b - a > tolerance {
        if pc > pd {
            b = d;
            d = c;
            pd = pc;
            c = b - ratio * (b - a);
            pc = power(c);
        } else {
            a = c;
            c = d;
            pc = pd;
            d = a + ratio * (b - a);
            pd = power(d);
        }
    }
    let best = if pc > pd { (c, pc) } else { (d, pd) };
    if best.1 >= start.1 { best } else { start }
}

#[cfg(test)]
mod tests {
    use super::{Prepared, autopower_grid, best_peak};

    /// A sine of period 3.7 d at 120 irregular epochs over 900 d, with a harmonic.
    fn sine() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let t: Vec<f64> = (0..120)
            .map(|i| 51_000.0 + 7.5 * i as f64 + 3.0 * ((i * i) as f64 * 0.37).sin())
            .collect();
        let y: Vec<f64> = t
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let p = 2.0 * std::f64::consts::PI * x / 3.7;
                17.0 + 0.3 * p.sin() + 0.05 * (2.0 * p).cos() + 0.01 * ((i * 7) as f64).sin()
            })
            .collect();
        let e = vec![0.02; t.len()];
        (t, y, e)
    }

    #[test]
    fn the_period_of_a_sine_and_a_power_near_one() {
        let (t, y, e) = sine();
        let data = Prepared::new(&t, &y, Some(&e)).unwrap();
        let grid = autopower_grid(&t, Some(0.5), Some(100.0)).unwrap();
        let peak = best_peak(&data, &grid).unwrap();
        assert!((1.0 / peak.frequency - 3.7).abs() / 3.7 < 1e-3, "{peak:?}");
        assert!(peak.power > 0.95 && peak.fap < 1e-20, "{peak:?}");
        // Fast and exact powers agree over the grid.
        let fast = data.power(&grid);
        for k in (0..grid.count).step_by(97) {
            let exact = data.power_at(grid.frequency(k));
            assert!((fast[k] - exact).abs() < 0.01, "{k}: {} {exact}", fast[k]);
        }
    }

    #[test]
    fn noise_has_a_large_false_alarm_probability() {
        let t: Vec<f64> = (0..80).map(|i| (i as f64 * 11.3) % 700.0).collect();
        // Deterministic noise: a 64-bit xorshift, uniform in [0, 1).
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let y: Vec<f64> = (0..80)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect();
        let data = Prepared::new(&t, &y, None).unwrap();
        let grid = autopower_grid(&t, None, None).unwrap();
        let peak = best_peak(&data, &grid).unwrap();
        assert!(peak.fap > 0.01, "{peak:?}");
        assert!(autopower_grid(&[1.0, 1.0], None, None).is_err());
        assert!(autopower_grid(&t, Some(1e-9), None).is_err());
    }
}
