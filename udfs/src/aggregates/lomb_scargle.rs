//! `lomb_scargle(mjd, mag [, mag_err [, min_period, max_period]])`: the best period of a
//! group's light curve, and `lomb_scargle_power(...)`: its whole periodogram, for plots
//! ([`crate::science::lomb_scargle`]).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, ListArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, GroupsAccumulator, Signature, TypeSignature, Volatility,
};

use super::samples::{SamplesAccumulator, state_fields};
use super::samples_groups::SamplesGroupsAccumulator;
use crate::science::lomb_scargle::{
    Grid, GridError, MAX_FREQUENCIES, Prepared, autopower_grid, best_peak,
};

/// The arguments' names, in order.
const ARGUMENTS: [&str; 5] = ["mjd", "mag", "mag_err", "min_period", "max_period"];

fn signature() -> Signature {
    Signature::one_of(
        vec![
            TypeSignature::Any(2),
            TypeSignature::Any(3),
            TypeSignature::Any(5),
        ],
        Volatility::Immutable,
    )
}

/// The light curve and its frequency grid from the sample columns; `Ok(None)` when there
/// is no periodogram (fewer than three points or a single time).
fn prepare(name: &str, c: &[Vec<f64>]) -> Result<Option<(Prepared, Grid)>> {
    let first = |k: usize| {
        c.get(k)
            .and_then(|v| v.iter().copied().find(|x| !x.is_nan()))
    };
    let (min_period, max_period) = if c.len() >= 5 {
        (first(3), first(4))
    } else {
        (None, None)
    };
    let Some(data) = Prepared::new(&c[0], &c[1], c.get(2).map(|e| e.as_slice())) else {
        return Ok(None);
    };
    match autopower_grid(data.times(), min_period, max_period) {
        Ok(grid) => Ok(Some((data, grid))),
        Err(GridError::NoBaseline) => Ok(None),
        Err(GridError::BadRange) => exec_err!(
            "{name}: min_period and max_period must be positive with min_period <= max_period (got {min_period:?}, {max_period:?})"
        ),
        Err(GridError::TooManyFrequencies(n)) => exec_err!(
            "{name}: {n} frequencies for a light curve (baseline / min_period x 5), more than the {MAX_FREQUENCIES} allowed: raise min_period"
        ),
    }
}

fn shape(arguments: usize) -> usize {
    match arguments {
        0..=2 => 2,
        3 | 4 => 3,
        _ => 5,
    }
}

fn best_fields() -> Fields {
    Fields::from(vec![
        Field::new("period", DataType::Float64, true),
        Field::new("frequency", DataType::Float64, true),
        Field::new("power", DataType::Float64, true),
        Field::new("fap", DataType::Float64, true),
        Field::new("n", DataType::Int64, false),
        Field::new("frequencies", DataType::Int64, true),
    ])
}

crate::function_struct! {
    /// `lomb_scargle(mjd, mag [, mag_err [, min_period, max_period]])` -> struct {period,
    /// frequency, power, fap, n, frequencies}.
    LombScargle,
    signature()
}

impl AggregateUDFImpl for LombScargle {
    crate::function_basics!("lomb_scargle");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(best_fields()))
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let columns = shape(args.exprs.len());
        Ok(Box::new(SamplesAccumulator::new(
            "lomb_scargle",
            columns,
            finish_best,
            None,
        )))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let columns = shape(args.input_fields.len());
        Ok(state_fields("lomb_scargle", &ARGUMENTS[..columns]))
    }
    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let columns = shape(args.exprs.len());
        Ok(Box::new(SamplesGroupsAccumulator::new(
            "lomb_scargle",
            columns,
            finish_best,
            None,
        )))
    }
}

fn finish_best(c: &[Vec<f64>]) -> Result<ScalarValue> {
    let n = Prepared::new(&c[0], &c[1], c.get(2).map(|e| e.as_slice())).map_or(0, |d| d.len());
    let (peak, count) = match prepare("lomb_scargle", c)? {
        Some((data, grid)) => (best_peak(&data, &grid), Some(grid.count as i64)),
        None => (None, None),
    };
    let float = |v: Option<f64>| -> ArrayRef { Arc::new(Float64Array::from(vec![v])) };
    let columns: Vec<ArrayRef> = vec![
        float(peak.map(|p| 1.0 / p.frequency)),
        float(peak.map(|p| p.frequency)),
        float(peak.map(|p| p.power)),
        float(peak.map(|p| p.fap)),
        Arc::new(Int64Array::from(vec![n as i64])),
        Arc::new(Int64Array::from(vec![count])),
    ];
    Ok(ScalarValue::Struct(Arc::new(StructArray::new(
        best_fields(),
        columns,
        None,
    ))))
}

fn list_field() -> FieldRef {
    Arc::new(Field::new("item", DataType::Float64, true))
}

fn power_fields() -> Fields {
    Fields::from(vec![
        Field::new("frequency", DataType::List(list_field()), true),
        Field::new("power", DataType::List(list_field()), true),
    ])
}

crate::function_struct! {
    /// `lomb_scargle_power(mjd, mag [, mag_err [, min_period, max_period]])` -> struct
    /// {frequency: list, power: list}.
    LombScarglePower,
    signature()
}

impl AggregateUDFImpl for LombScarglePower {
    crate::function_basics!("lomb_scargle_power");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(power_fields()))
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let columns = shape(args.exprs.len());
        Ok(Box::new(SamplesAccumulator::new(
            "lomb_scargle_power",
            columns,
            finish_power,
            None,
        )))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let columns = shape(args.input_fields.len());
        Ok(state_fields("lomb_scargle_power", &ARGUMENTS[..columns]))
    }
}

fn finish_power(c: &[Vec<f64>]) -> Result<ScalarValue> {
    let (frequency, power) = match prepare("lomb_scargle_power", c)? {
        Some((data, grid)) => {
            let f: Vec<Option<f64>> = (0..grid.count).map(|k| Some(grid.frequency(k))).collect();
            let p: Vec<Option<f64>> = data.power(&grid).into_iter().map(Some).collect();
            (Some(f), Some(p))
        }
        None => (None, None),
    };
    let list = |v: Option<Vec<Option<f64>>>| -> ArrayRef {
        Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>([v]))
    };
    Ok(ScalarValue::Struct(Arc::new(StructArray::new(
        power_fields(),
        vec![list(frequency), list(power)],
        None,
    ))))
}
