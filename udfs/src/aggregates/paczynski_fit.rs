//! `paczynski_fit(mjd, mag, mag_err [, colour])`: a point-lens microlensing fit per group
//! (star), in one band or two ([`crate::science::paczynski`]). A group whose fit fails
//! gets a status, never an error.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, GroupsAccumulator, Signature, TypeSignature, Volatility,
};

use super::samples::{SamplesAccumulator, state_fields};
use super::samples_groups::SamplesGroupsAccumulator;
use crate::science::paczynski::{Fit, fit};

const NAME: &str = "paczynski_fit";

/// The result's fields: (name, type).
const FIELDS: [(&str, DataType); 30] = [
    ("status", DataType::Utf8),
    ("n", DataType::Int64),
    ("iterations", DataType::Int64),
    ("t0", DataType::Float64),
    ("t0_err", DataType::Float64),
    ("u0", DataType::Float64),
    ("u0_err", DataType::Float64),
    ("te", DataType::Float64),
    ("te_err", DataType::Float64),
    ("chi2", DataType::Float64),
    ("dof", DataType::Int64),
    ("chi2_constant", DataType::Float64),
    ("delta_chi2", DataType::Float64),
    ("n_bump", DataType::Int64),
    ("chi2_out", DataType::Float64),
    ("chromatic_dchi2", DataType::Float64),
    ("achromatic_prob", DataType::Float64),
    ("band_1", DataType::Utf8),
    ("n_1", DataType::Int64),
    ("baseline_1", DataType::Float64),
    ("baseline_1_err", DataType::Float64),
    ("blend_1", DataType::Float64),
    ("blend_1_err", DataType::Float64),
    ("band_2", DataType::Utf8),
    ("n_2", DataType::Int64),
    ("baseline_2", DataType::Float64),
    ("baseline_2_err", DataType::Float64),
    ("blend_2", DataType::Float64),
    ("blend_2_err", DataType::Float64),
    ("colours", DataType::Int64),
];

fn result_fields() -> Fields {
    Fields::from(
        FIELDS
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), *n != "status" && *n != "n"))
            .collect::<Vec<_>>(),
    )
}

crate::function_struct! {
    /// `paczynski_fit(mjd, mag, mag_err [, colour])` -> struct; `colour` is text ('R',
    /// 'B') or a number, at most two per group.
    PaczynskiFit,
    Signature::one_of(
        vec![TypeSignature::Any(3), TypeSignature::Any(4)],
        Volatility::Immutable
    )
}

impl AggregateUDFImpl for PaczynskiFit {
    crate::function_basics!("paczynski_fit");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields()))
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let (columns, finish) = shape(args.exprs.len());
        Ok(Box::new(SamplesAccumulator::new(
            NAME,
            columns,
            finish,
            (columns == 4).then_some(3),
        )))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let names = ["mjd", "mag", "mag_err", "colour"];
        Ok(state_fields(
            NAME,
            &names[..args.input_fields.len().clamp(3, 4)],
        ))
    }
    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let (columns, finish) = shape(args.exprs.len());
        Ok(Box::new(SamplesGroupsAccumulator::new(
            NAME,
            columns,
            finish,
            (columns == 4).then_some(3),
        )))
    }
}

/// What computes a group's result from its sample columns.
type Finish = fn(&[Vec<f64>]) -> Result<ScalarValue>;

/// The number of sample columns and the finishing function for `arguments` arguments.
fn shape(arguments: usize) -> (usize, Finish) {
    if arguments >= 4 {
        (4, finish_two_bands)
    } else {
        (3, finish_one_band)
    }
}

fn finish_one_band(c: &[Vec<f64>]) -> Result<ScalarValue> {
    let f = fit(&c[0], &c[1], &c[2], None);
    Ok(ScalarValue::Struct(Arc::new(fits_array(&[f], false))))
}

fn finish_two_bands(c: &[Vec<f64>]) -> Result<ScalarValue> {
    let f = fit(&c[0], &c[1], &c[2], Some(&c[3]));
    Ok(ScalarValue::Struct(Arc::new(fits_array(&[f], true))))
}

/// A colour's name from its code: the character of a printable byte, else the number.
fn band_name(code: f64) -> String {
    if code.fract() == 0.0 && (33.0..127.0).contains(&code) {
        char::from(code as u8).to_string()
    } else {
        code.to_string()
    }
}

/// The fits as a struct array of [`result_fields`]; `named_bands`: the bands came from a
/// colour argument (else their names are null).
fn fits_array(fits: &[Fit], named_bands: bool) -> StructArray {
    let float = |get: &dyn Fn(&Fit) -> Option<f64>| -> ArrayRef {
        Arc::new(fits.iter().map(get).collect::<Float64Array>())
    };
    let int = |get: &dyn Fn(&Fit) -> Option<i64>| -> ArrayRef {
        Arc::new(fits.iter().map(get).collect::<Int64Array>())
    };
    let text = |get: &dyn Fn(&Fit) -> Option<String>| -> ArrayRef {
        Arc::new(fits.iter().map(get).collect::<StringArray>())
    };
    let band = |i: usize| {
        move |f: &Fit| -> Option<crate::science::paczynski::BandFit> { f.bands.get(i).copied() }
    };
    let fitted = |f: &Fit| f.chi2.is_some();
    let mut columns: Vec<ArrayRef> = vec![
        text(&|f| Some(f.status.name().to_string())),
        int(&|f| Some(f.n as i64)),
        int(&|f| fitted(f).then_some(f.iterations as i64)),
        float(&|f| f.t0.map(|v| v.0)),
        float(&|f| f.t0.map(|v| v.1).filter(|e| e.is_finite())),
        float(&|f| f.u0.map(|v| v.0)),
        float(&|f| f.u0.map(|v| v.1).filter(|e| e.is_finite())),
        float(&|f| f.te.map(|v| v.0)),
        float(&|f| f.te.map(|v| v.1).filter(|e| e.is_finite())),
        float(&|f| f.chi2),
        int(&|f| Some(f.dof)),
        float(&|f| f.chi2_constant),
        float(&|f| Some(f.chi2_constant? - f.chi2?)),
        int(&|f| f.n_bump),
        float(&|f| f.chi2_out_per_point),
        float(&|f| f.chromatic_dchi2),
        float(&|f| f.achromatic_prob),
    ];
    for i in 0..2 {
        let b = band(i);
        columns.push(text(&|f| {
            b(f).filter(|_| named_bands).map(|b| band_name(b.code))
        }));
        columns.push(int(&|f| b(f).map(|b| b.n as i64)));
        columns.push(float(&|f| b(f).map(|b| b.baseline)));
        columns.push(float(&|f| {
            b(f).map(|b| b.baseline_err).filter(|e| e.is_finite())
        }));
        columns.push(float(&|f| b(f).map(|b| b.blend)));
        columns.push(float(&|f| {
            b(f).map(|b| b.blend_err).filter(|e| e.is_finite())
        }));
    }
    columns.push(int(&|f| Some(f.bands.len() as i64)));
    StructArray::new(result_fields(), columns, None)
}

#[cfg(test)]
mod tests {
    use super::{FIELDS, band_name, fits_array};
    use crate::science::paczynski::fit;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;

    #[test]
    fn the_struct_holds_every_field_and_names_the_bands() {
        assert_eq!(band_name(82.0), "R");
        assert_eq!(band_name(2.0), "2");
        let f = fit(&[1.0, 2.0], &[18.0, 18.0], &[0.1, 0.1], None);
        let a = fits_array(&[f], false);
        assert_eq!(a.num_columns(), FIELDS.len());
        assert_eq!(a.column(0).as_string::<i32>().value(0), "too_few_points");
        assert!(a.column(3).as_primitive::<Float64Type>().is_null(0));
    }
}
