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
    light_curve_stats_with(mjd, mag, err, &mut Vec::new())
}

/// [`light_curve_stats`] with a caller's buffer for the magnitudes (reused across groups).
fn light_curve_stats_with(
    mjd: &[f64],
    mag: &[f64],
    err: &[f64],
    mags: &mut Vec<f64>,
) -> LightCurveStats {
    mags.clear();
    // A point counts when its MJD and magnitude are finite; it is weighted when its error
    // is also finite and positive.
    let kept = |t: f64, m: f64| t.is_finite() && m.is_finite();
    let weighted = |e: f64| e.is_finite() && e > 0.0;
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut lowest, mut highest) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut sum, mut sw, mut swm, mut n_weighted) = (0.0, 0.0, 0.0, 0usize);
    for ((&t, &m), &e) in mjd.iter().zip(mag).zip(err) {
        if !kept(t, m) {
            continue;
        }
        mags.push(m);
        sum += m;
        first = first.min(t);
        last = last.max(t);
        lowest = lowest.min(m);
        highest = highest.max(m);
        if weighted(e) {
            let w = 1.0 / (e * e);
            sw += w;
            swm += w * m;
            n_weighted += 1;
        }
    }
    let n = mags.len();
    if n == 0 {
        return LightCurveStats::default();
    }
    let mean = sum / n as f64;
    let std = (n > 1)
        .then(|| (mags.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    let weighted_mean = (n_weighted > 0).then(|| swm / sw);
    let chi2_dof = weighted_mean.filter(|_| n_weighted > 1).map(|wm| {
        let chi2: f64 = mjd
            .iter()
            .zip(mag)
            .zip(err)
            .filter(|((t, m), e)| kept(**t, **m) && weighted(**e))
            .map(|((_, m), e)| ((m - wm) / e).powi(2))
            .sum();
        chi2 / (n_weighted - 1) as f64
    });
    let med = median(mags);
    for m in mags.iter_mut() {
        *m = (*m - med).abs();
    }
    LightCurveStats {
        n: n as i64,
        mean: Some(mean),
        weighted_mean,
        std,
        chi2_dof,
        median: Some(med),
        mad: Some(median(mags)),
        amplitude: Some(highest - lowest),
        first_mjd: Some(first),
        last_mjd: Some(last),
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
        Ok(Box::new(
            SamplesGroupsAccumulator::new("lc_stats", 3, finish, None)
                .with_groups_finish(finish_groups),
        ))
    }
}

/// The `lc_stats` struct of the sample columns (mjd, mag, mag_err).
fn finish(c: &[Vec<f64>]) -> Result<ScalarValue> {
    let array = stats_array(std::iter::once(light_curve_stats(&c[0], &c[1], &c[2])));
    Ok(ScalarValue::Struct(Arc::new(array)))
}

/// The `lc_stats` structs of many groups, built column by column.
fn finish_groups(groups: &[Vec<Vec<f64>>]) -> Result<ArrayRef> {
    let mut mags = Vec::new();
    let stats = groups
        .iter()
        .map(|c| light_curve_stats_with(&c[0], &c[1], &c[2], &mut mags));
    Ok(Arc::new(stats_array(stats)))
}

/// One struct row per statistics.
fn stats_array(stats: impl Iterator<Item = LightCurveStats>) -> StructArray {
    let mut n = Vec::new();
    let mut floats: [Vec<Option<f64>>; 9] = Default::default();
    for s in stats {
        n.push(s.n);
        let values = [
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
        for (column, v) in floats.iter_mut().zip(values) {
            column.push(v);
        }
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(n))];
    columns.extend(
        floats
            .into_iter()
            .map(|v| Arc::new(Float64Array::from(v)) as ArrayRef),
    );
    StructArray::new(result_fields(), columns, None)
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

    /// The order statistics (median, MAD) equal those of a sorted copy, for odd and even
    /// lengths, with ties and ignored points.
    #[test]
    fn median_and_mad_equal_a_sort() {
        let sorted_median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            let n = v.len();
            if n % 2 == 1 {
                v[n / 2]
            } else {
                0.5 * (v[n / 2 - 1] + v[n / 2])
            }
        };
        for n in 1..40usize {
            let mag: Vec<f64> = (0..n)
                .map(|k| ((k * 7919) % 13) as f64 * 0.25 + 15.0)
                .collect();
            let mut mjd: Vec<f64> = (0..n).map(|k| k as f64).collect();
            if n > 3 {
                mjd[2] = f64::NAN;
            }
            let err = vec![0.1; n];
            let s = light_curve_stats(&mjd, &mag, &err);
            let kept: Vec<f64> = mag
                .iter()
                .zip(&mjd)
                .filter(|(_, t)| t.is_finite())
                .map(|(m, _)| *m)
                .collect();
            let med = sorted_median(&mut kept.clone());
            let mut deviations: Vec<f64> = kept.iter().map(|m| (*m - med).abs()).collect();
            assert_eq!(s.median, Some(med), "n = {n}");
            assert_eq!(s.mad, Some(sorted_median(&mut deviations)), "n = {n}");
            assert_eq!(s.n as usize, kept.len());
        }
    }
}

#[cfg(test)]
mod groups_tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, ArrayRef, Float64Array, ListArray};
    use datafusion::arrow::compute::concat;
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::common::{Result, ScalarValue};
    use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

    use super::{SamplesGroupsAccumulator, finish, finish_groups};

    fn accumulator() -> SamplesGroupsAccumulator {
        SamplesGroupsAccumulator::new("lc_stats", 3, finish, None).with_groups_finish(finish_groups)
    }

    /// Partial states written by one accumulator and merged by another (whole, with a
    /// null row to skip, and sliced) give the structs that the one-group `finish` gives
    /// for each group's own points.
    #[test]
    fn merged_states_give_the_single_group_results() -> Result<()> {
        let n = 60;
        let mjd: Vec<f64> = (0..n).map(|k| 50_000.0 + k as f64).collect();
        let mag: Vec<f64> = (0..n)
            .map(|k| 15.0 + ((k * 37) % 11) as f64 * 0.1)
            .collect();
        let err: Vec<f64> = (0..n)
            .map(|k| if k % 7 == 0 { f64::NAN } else { 0.05 })
            .collect();
        let groups: Vec<usize> = (0..n).map(|k| k % 3).collect();
        let args: Vec<ArrayRef> = [&mjd, &mag, &err]
            .iter()
            .map(|v| Arc::new(Float64Array::from(v.to_vec())) as ArrayRef)
            .collect();
        let expected: Vec<ScalarValue> = (0..3)
            .map(|g| {
                let pick = |v: &[f64]| -> Vec<f64> {
                    (0..n).filter(|k| k % 3 == g).map(|k| v[k]).collect()
                };
                finish(&[pick(&mjd), pick(&mag), pick(&err)])
            })
            .collect::<Result<_>>()?;
        let expected = ScalarValue::iter_to_array(expected)?;

        let mut partial = accumulator();
        partial.update_batch(&args, &groups, None, 3)?;
        let states = partial.state(EmitTo::All)?;
        let item = Arc::new(Field::new("item", DataType::Float64, true));
        let with_null: Vec<ArrayRef> = states
            .iter()
            .map(|s| concat(&[&ListArray::new_null(item.clone(), 1), s.as_ref()]))
            .collect::<std::result::Result<_, _>>()?;

        let mut whole = accumulator();
        whole.merge_batch(&with_null, &[0, 0, 1, 2], 3)?;
        assert_eq!(whole.evaluate(EmitTo::All)?.as_ref(), expected.as_ref());

        let sliced: Vec<ArrayRef> = with_null.iter().map(|s| s.slice(1, 3)).collect();
        let mut from_slices = accumulator();
        from_slices.merge_batch(&sliced, &[0, 1, 2], 3)?;
        assert_eq!(
            from_slices.evaluate(EmitTo::All)?.as_ref(),
            expected.as_ref()
        );

        let mut direct = accumulator();
        direct.update_batch(&args, &groups, None, 3)?;
        assert_eq!(direct.evaluate(EmitTo::All)?.as_ref(), expected.as_ref());
        assert!(whole.merge_batch(&sliced[..2], &[0, 1, 2], 3).is_err());
        Ok(())
    }
}
