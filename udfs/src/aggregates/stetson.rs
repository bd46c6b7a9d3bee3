//! `stetson_j(mjd, mag, mag_err, colour)`: Stetson's (1996) J variability index over two
//! colours observed at the same epochs.

use std::collections::HashMap;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use super::samples::{SamplesAccumulator, state_fields};
use super::samples_groups::SamplesGroupsAccumulator;

/// Stetson's J for points (mjd, mag, err, colour code). Within each colour the residual is
/// delta = sqrt(n / (n - 1)) (mag - weighted mean) / err; a red and a blue point with the
/// same MJD form a pair, P = delta_R delta_B; a point without a partner counts alone,
/// P = delta^2 - 1. J = sum(sign(P) sqrt(|P|)) / number of terms (all weights 1).
/// `None` with fewer than two points in a colour that has points, or no point.
pub fn stetson_j(points: &[(f64, f64, f64, i64)]) -> Option<f64> {
    let valid: Vec<&(f64, f64, f64, i64)> = points
        .iter()
        .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite() && p.2 > 0.0)
        .collect();
    let mut by_colour: HashMap<i64, Vec<&(f64, f64, f64, i64)>> = HashMap::new();
    for p in &valid {
        by_colour.entry(p.3).or_default().push(p);
    }
    if by_colour.is_empty() || by_colour.len() > 2 {
        return None;
    }
    let mut deltas: HashMap<i64, Vec<(f64, f64)>> = HashMap::new();
    for (c, pts) in &by_colour {
        let n = pts.len();
        if n < 2 {
            return None;
        }
        let (sw, swm) = pts.iter().fold((0.0, 0.0), |(a, b), p| {
            let w = 1.0 / (p.2 * p.2);
            (a + w, b + w * p.1)
        });
        let mean = swm / sw;
        let scale = (n as f64 / (n as f64 - 1.0)).sqrt();
        let mut d: Vec<(f64, f64)> = pts
            .iter()
            .map(|p| (p.0, scale * (p.1 - mean) / p.2))
            .collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0));
        deltas.insert(*c, d);
    }
    let mut colours: Vec<&i64> = deltas.keys().collect();
    colours.sort();
    let mut terms: Vec<f64> = Vec::new();
    if let [a, b] = colours.as_slice() {
        let (da, db) = (&deltas[a], &deltas[b]);
        let (mut i, mut j) = (0, 0);
        while i < da.len() || j < db.len() {
            match (da.get(i), db.get(j)) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    terms.push(x.1 * y.1);
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x.0 < y.0 => {
                    terms.push(x.1 * x.1 - 1.0);
                    i += 1;
                }
                (Some(_), Some(y)) => {
                    terms.push(y.1 * y.1 - 1.0);
                    j += 1;
                }
                (Some(x), None) => {
                    terms.push(x.1 * x.1 - 1.0);
                    i += 1;
                }
                (None, Some(y)) => {
                    terms.push(y.1 * y.1 - 1.0);
                    j += 1;
                }
                (None, None) => break,
            }
        }
    } else {
        terms.extend(deltas[colours[0]].iter().map(|d| d.1 * d.1 - 1.0));
    }
    Some(
        terms
            .iter()
            .map(|p| p.signum() * p.abs().sqrt())
            .sum::<f64>()
            / terms.len() as f64,
    )
}

crate::function_struct! {
    /// `stetson_j(mjd, mag, mag_err, colour)` -> Float64; `colour` is text ('R', 'B') or a
    /// number; at most two colours per group.
    StetsonJ,
    Signature::any(4, Volatility::Immutable)
}

impl AggregateUDFImpl for StetsonJ {
    crate::function_basics!("stetson_j");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SamplesAccumulator::new(
            "stetson_j",
            4,
            finish,
            Some(3),
        )))
    }
    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SamplesGroupsAccumulator::new(
            "stetson_j",
            4,
            finish,
            Some(3),
        )))
    }
    fn state_fields(&self, _: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields(
            "stetson_j",
            &["mjd", "mag", "mag_err", "colour"],
        ))
    }
}

/// Stetson's J of the sample columns (mjd, mag, mag_err, colour code).
fn finish(c: &[Vec<f64>]) -> Result<ScalarValue> {
    let points: Vec<(f64, f64, f64, i64)> = (0..c[0].len())
        .filter(|&i| c[3][i].is_finite())
        .map(|i| (c[0][i], c[1][i], c[2][i], c[3][i] as i64))
        .collect();
    Ok(ScalarValue::Float64(stetson_j(&points)))
}

#[cfg(test)]
mod tests {
    use super::stetson_j;

    #[test]
    fn correlated_colours_give_a_positive_index() {
        // Two epochs, errors 1: deltas sqrt(2) x (+-1) in each colour.
        let pts = [
            (1.0, 11.0, 1.0, 0),
            (2.0, 9.0, 1.0, 0),
            (1.0, 21.0, 1.0, 1),
            (2.0, 19.0, 1.0, 1),
        ];
        // Pairs: P = 2 and 2 -> J = (sqrt 2 + sqrt 2) / 2.
        assert!((stetson_j(&pts).unwrap() - 2f64.sqrt()).abs() < 1e-12);
        // Anti-correlated: J = -sqrt 2.
        let anti = [
            (1.0, 11.0, 1.0, 0),
            (2.0, 9.0, 1.0, 0),
            (1.0, 19.0, 1.0, 1),
            (2.0, 21.0, 1.0, 1),
        ];
        assert!((stetson_j(&anti).unwrap() + 2f64.sqrt()).abs() < 1e-12);
        // An unpaired point counts alone, P = delta^2 - 1. Colour 1 now has 3 points: mean
        // 50/3, scale sqrt(3/2); colour 0 keeps deltas +-sqrt 2. Terms: the pair at MJD 1
        // (sqrt 2 d(21)), the pair at MJD 2 (-sqrt 2 d(19)), the lone point (d(10)^2 - 1).
        let mut three = pts.to_vec();
        three.push((3.0, 10.0, 1.0, 1));
        let d = |mag: f64| 1.5f64.sqrt() * (mag - 50.0 / 3.0);
        let terms = [
            2f64.sqrt() * d(21.0),
            -(2f64.sqrt()) * d(19.0),
            d(10.0).powi(2) - 1.0,
        ];
        let expected = terms
            .iter()
            .map(|p| p.signum() * p.abs().sqrt())
            .sum::<f64>()
            / 3.0;
        assert!((stetson_j(&three).unwrap() - expected).abs() < 1e-12);
        assert!((expected - 2.944).abs() < 1e-3, "{expected}");
        assert_eq!(stetson_j(&pts[..1]), None);
    }
}
