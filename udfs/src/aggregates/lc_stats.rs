//! `lc_stats(mjd, mag, mag_err)`: per-star light-curve statistics in one aggregate.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use super::samples::{SamplesAccumulator, median, state_fields};
use super::samples_groups::SamplesGroupsAccumulator;

/// The statistics of one light curve.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LightCurveStats {
    /// Points with a finite MJD and magnitude.
    pub n: i64,
    /// Mean magnitude.
    pub mean: Option<f64>,
    /// Mean weighted by 1/mag_err^2 (points with mag_err > 0).
    pub weighted_mean: Option<f64>,
    /// Sample standard deviation (n - 1).
    pub std: Option<f64>,
    /// Reduced chi-square about the weighted mean: sum((m - wmean)^2 / err^2) / (n_w - 1).
    pub chi2_dof: Option<f64>,
    /// Median magnitude.
    pub median: Option<f64>,
    /// Median absolute deviation from the median (not scaled to a sigma).
    pub mad: Option<f64>,
    /// Peak-to-peak amplitude: max - min.
    pub amplitude: Option<f64>,
    /// First MJD.
    pub first_mjd: Option<f64>,
    /// Last MJD.
    pub last_mjd: Option<f64>,
}

/// Computes the statistics; points with a non-finite MJD or magnitude are ignored.
pub fn light_curve_stats(mjd: &[f64], mag: &[f64], err: &[f64]) -> LightCurveStats {
    let pts: Vec<(f64, f64, f64)> = mjd
        .iter()
        .zip(mag)
        .zip(err)
        .map(|((t, m), e)| (*t, *m, *e))
        .filter(|(t, m, _)| t.is_finite() && m.is_finite())
        .collect();
    let n = pts.len();
    if n == 0 {
        return LightCurveStats::default();
    }
    let mags: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let mean = mags.iter().sum::<f64>() / n as f64;
    let std = (n > 1)
        .then(|| (mags.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    let weighted: Vec<(f64, f64)> = pts
        .iter()
        .filter(|p| p.2.is_finite() && p.2 > 0.0)
        .map(|p| (p.1, p.2))
        .collect();
    let (mut sw, mut swm) = (0.0, 0.0);
    for (m, e) in &weighted {
        let w = 1.0 / (e * e);
        sw += w;
        swm += w * m;
    }
    let weighted_mean = (!weighted.is_empty()).then(|| swm / sw);
    let chi2_dof = weighted_mean.filter(|_| weighted.len() > 1).map(|wm| {
        weighted
            .iter()
            .map(|(m, e)| ((m - wm) / e).powi(2))
            .sum::<f64>()
            / (weighted.len() - 1) as f64
    });
    let med = median(&mags);
    let deviations: Vec<f64> = mags.iter().map(|m| (m - med).abs()).collect();
    let fold =
        |f: fn(f64, f64) -> f64, init: f64, v: &mut dyn Iterator<Item = f64>| v.fold(init, f);
    LightCurveStats {
        n: n as i64,
        mean: Some(mean),
        weighted_mean,
        std,
        chi2_dof,
        median: Some(med),
        mad: Some(median(&deviations)),
        amplitude: Some(
            fold(f64::max, f64::NEG_INFINITY, &mut mags.iter().copied())
                - fold(f64::min, f64::INFINITY, &mut mags.iter().copied()),
        ),
        first_mjd: Some(fold(f64::min, f64::INFINITY, &mut pts.iter().map(|p| p.0))),
        last_mjd: Some(fold(
            f64::max,
            f64::NEG_INFINITY,
            &mut pts.iter().map(|p| p.0),
        )),
    }
}

const FLOAT_FIELDS: [&str; 9] = [
    "mean",
    "weighted_mean",
    "std",
    "chi2_dof",
    "median",
    "mad",
    "amplitude",
    "first_mjd",
    "last_mjd",
];

fn result_fields() -> Fields {
    let mut f = vec![Field::new("n", DataType::Int64, false)];
    f.extend(
        FLOAT_FIELDS
            .iter()
            .map(|n| Field::new(*n, DataType::Float64, true)),
    );
    Fields::from(f)
}

crate::function_struct! {
    /// `lc_stats(mjd, mag, mag_err)` -> struct {n, mean, weighted_mean, std, chi2_dof,
    /// median, mad, amplitude, first_mjd, last_mjd}.
    LcStats,
    Signature::any(3, Volatility::Immutable)
}

impl AggregateUDFImpl for LcStats {
    crate::function_basics!("lc_stats");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields()))
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SamplesAccumulator::new(
            "lc_stats", 3, finish, None,
        )))
    }
    fn state_fields(&self, _: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields("lc_stats", &["mjd", "mag", "mag_err"]))
    }
    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SamplesGroupsAccumulator::new(
            "lc_stats", 3, finish, None,
        )))
    }
}

/// The `lc_stats` struct of the sample columns (mjd, mag, mag_err).
fn finish(c: &[Vec<f64>]) -> Result<ScalarValue> {
    let s = light_curve_stats(&c[0], &c[1], &c[2]);
    let floats = [
        s.mean,
        s.weighted_mean,
        s.std,
        s.chi2_dof,
        s.median,
        s.mad,
        s.amplitude,
        s.first_mjd,
        s.last_mjd,
    ];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![s.n]))];
    columns.extend(
        floats
            .iter()
            .map(|v| Arc::new(Float64Array::from(vec![*v])) as ArrayRef),
    );
    Ok(ScalarValue::Struct(Arc::new(StructArray::new(
        result_fields(),
        columns,
        None,
    ))))
}

#[cfg(test)]
mod tests {
    use super::light_curve_stats;

    #[test]
    fn hand_derived_values() {
        // Magnitudes 10, 11, 12, 15 with errors 1, 1, 2, 1.
        let s = light_curve_stats(
            &[4.0, 1.0, 3.0, 2.0],
            &[10.0, 11.0, 12.0, 15.0],
            &[1.0, 1.0, 2.0, 1.0],
        );
        assert_eq!(s.n, 4);
        assert_eq!(s.mean, Some(12.0));
        // Weights 1, 1, 0.25, 1: (10 + 11 + 3 + 15) / 3.25 = 12.
        assert!((s.weighted_mean.unwrap() - 12.0).abs() < 1e-12);
        // Deviations -2, -1, 0, 3: sum of squares 14, / 3.
        assert!((s.std.unwrap() - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
        // chi2 = 4 + 1 + 0 + 9 = 14 over 3 degrees of freedom.
        assert!((s.chi2_dof.unwrap() - 14.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.median, Some(11.5));
        // |m - 11.5| = 1.5, 0.5, 0.5, 3.5: median 1.
        assert_eq!(s.mad, Some(1.0));
        assert_eq!(s.amplitude, Some(5.0));
        assert_eq!((s.first_mjd, s.last_mjd), (Some(1.0), Some(4.0)));
        let one = light_curve_stats(&[1.0], &[10.0], &[f64::NAN]);
        assert_eq!(
            (one.n, one.std, one.weighted_mean, one.chi2_dof),
            (1, None, None, None)
        );
        assert_eq!(light_curve_stats(&[], &[], &[]).n, 0);
    }
}
