//! Display stretches for quick-looks: zscale (IRAF's algorithm, as astropy's
//! `ZScaleInterval`), asinh and linear, mapping pixel values to 0-255.

/// A stretch by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stretch {
    /// Linear between the zscale limits.
    ZScale,
    /// asinh between the 0.25 and 99.75 percentiles (softening 0.1).
    Asinh,
    /// Linear between the minimum and the maximum.
    Linear,
}

impl Stretch {
    /// Parses `zscale`, `asinh` or `linear`.
    pub fn parse(name: &str) -> Result<Stretch, String> {
        match name.to_ascii_lowercase().as_str() {
            "zscale" => Ok(Stretch::ZScale),
            "asinh" => Ok(Stretch::Asinh),
            "linear" => Ok(Stretch::Linear),
            other => Err(format!(
                "unknown stretch '{other}' (zscale, asinh or linear)"
            )),
        }
    }

    /// Maps finite values to 0-255 (NaN to 0).
    pub fn apply(self, values: &[f64]) -> Vec<u8> {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return vec![0; values.len()];
        }
        let (lo, hi) = match self {
            Stretch::ZScale => zscale(&finite),
            Stretch::Asinh => {
                let mut s = finite.clone();
                s.sort_by(f64::total_cmp);
                (percentile(&s, 0.25), percentile(&s, 99.75))
            }
            Stretch::Linear => finite
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                }),
        };
        let span = if hi > lo { hi - lo } else { 1.0 };
        const SOFTENING: f64 = 0.1;
        let norm = (1.0 / SOFTENING).asinh();
        values
            .iter()
            .map(|&v| {
                if !v.is_finite() {
                    return 0;
                }
                let x = ((v - lo) / span).clamp(0.0, 1.0);
                let y = if self == Stretch::Asinh {
                    (x / SOFTENING).asinh() / norm
                } else {
                    x
                };
                (y * 255.0).round() as u8
            })
            .collect()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos.fract());
    let next = sorted[(i + 1).min(sorted.len() - 1)];
    sorted[i] + f * (next - sorted[i])
}

/// IRAF's zscale limits with astropy's defaults: 1000 samples, contrast 0.25, at most
/// half the samples rejected, 2.5 sigma clipping, 5 iterations.
pub fn zscale(values: &[f64]) -> (f64, f64) {
    const NSAMPLES: usize = 1000;
    const CONTRAST: f64 = 0.25;
    const MAX_REJECT: f64 = 0.5;
    const MIN_NPIXELS: usize = 5;
    const KREJ: f64 = 2.5;
    const MAX_ITERATIONS: usize = 5;
    let stride = (values.len() / NSAMPLES).max(1);
    let mut samples: Vec<f64> = values
        .iter()
        .step_by(stride)
        .take(NSAMPLES)
        .copied()
        .collect();
    samples.sort_by(f64::total_cmp);
    let npix = samples.len();
    let (mut vmin, mut vmax) = (samples[0], samples[npix - 1]);
    let minpix = MIN_NPIXELS.max((npix as f64 * MAX_REJECT) as usize);
    let x: Vec<f64> = (0..npix).map(|i| i as f64).collect();
    let ngrow = 1usize.max((npix as f64 * 0.01) as usize);
    let mut good = vec![true; npix];
    let mut ngood = npix;
    let mut last_ngood = npix + 1;
    let mut slope = 0.0;
    for _ in 0..MAX_ITERATIONS {
        if ngood >= last_ngood || ngood < minpix {
            break;
        }
        let Some((fitted_slope, intercept)) = fit_line(&x, &samples, &good) else {
            break;
        };
        slope = fitted_slope;
        let flat: Vec<f64> = (0..npix)
            .map(|i| samples[i] - (x[i] * slope + intercept))
            .collect();
        let good_flat: Vec<f64> = (0..npix).filter(|&i| good[i]).map(|i| flat[i]).collect();
        let mean = good_flat.iter().sum::<f64>() / good_flat.len() as f64;
        let std = (good_flat.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
            / good_flat.len() as f64)
            .sqrt();
        let threshold = KREJ * std;
        // Rejected samples stay rejected; then grow them.
        let bad: Vec<bool> = (0..npix)
            .map(|i| !good[i] || flat[i] < -threshold || flat[i] > threshold)
            .collect();
        good = grow(&bad, ngrow).iter().map(|g| !g).collect();
        last_ngood = ngood;
        ngood = good.iter().filter(|g| **g).count();
    }
    if ngood >= minpix {
        let slope = slope / CONTRAST;
        let median = if npix % 2 == 1 {
            samples[npix / 2]
        } else {
            0.5 * (samples[npix / 2 - 1] + samples[npix / 2])
        };
        let center = (npix - 1) / 2;
        vmin = vmin.max(median - (center as f64 - 1.0) * slope);
        vmax = vmax.min(median + (npix - center) as f64 * slope);
    }
    (vmin, vmax)
}

/// The least-squares line (slope, intercept) through the `good` points, if they fix one.
fn fit_line(x: &[f64], y: &[f64], good: &[bool]) -> Option<(f64, f64)> {
    let (mut sx, mut sy, mut sxx, mut sxy, mut n) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in (0..x.len()).filter(|&i| good[i]) {
        sx += x[i];
        sy += y[i];
        sxx += x[i] * x[i];
        sxy += x[i] * y[i];
        n += 1.0;
    }
    let denom = n * sxx - sx * sx;
    if denom == 0.0 {
        return None;
    }
    let slope = (n * sxy - sx * sy) / denom;
    Some((slope, (sy - slope * sx) / n))
}

/// The `bad` flags grown by `ngrow` samples, as numpy's
/// `convolve(bad, ones(ngrow), "same")` does.
fn grow(bad: &[bool], ngrow: usize) -> Vec<bool> {
    let n = bad.len();
    let mut grown = vec![false; n];
    for (j, b) in bad.iter().enumerate() {
        if *b {
            let lo = j.saturating_sub((ngrow - 1) / 2);
            let hi = (j + ngrow / 2).min(n - 1);
            for g in grown.iter_mut().take(hi + 1).skip(lo) {
                *g = true;
            }
        }
    }
    grown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zscale_equals_astropy_and_ignores_outliers() {
        // A gentle ramp with a few very bright pixels. Reference: astropy 8.0.2,
        // ZScaleInterval().get_limits(v) = (100.0, 124.94232762850477).
        let mut v: Vec<f64> = (0..10_000)
            .map(|i| 100.0 + (i % 100) as f64 * 0.1)
            .collect();
        for i in (0..10_000).step_by(997) {
            v[i] = 60_000.0;
        }
        let (lo, hi) = zscale(&v);
        assert_eq!(lo, 100.0);
        assert!((hi - 124.942_327_628_504_77).abs() < 1e-9, "{hi}");
    }

    #[test]
    fn stretches_map_to_bytes() {
        let v = [0.0, 1.0, 2.0, f64::NAN];
        assert_eq!(Stretch::Linear.apply(&v), vec![0, 128, 255, 0]);
        assert_eq!(Stretch::parse("ASINH").unwrap(), Stretch::Asinh);
        assert!(Stretch::parse("log").is_err());
    }
}
