//! Argument helpers shared by the scalar functions.

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::ScalarFunctionArgs;

/// The arguments as arrays of the batch's length (scalars broadcast, also when every
/// argument is a scalar), checking their number.
pub fn arrays(args: &ScalarFunctionArgs, name: &str, counts: &[usize]) -> Result<Vec<ArrayRef>> {
    if !counts.contains(&args.args.len()) {
        return exec_err!("{name} takes {counts:?} arguments, got {}", args.args.len());
    }
    args.args
        .iter()
        .map(|a| a.to_array(args.number_rows))
        .collect()
}

/// An argument cast to Float64.
pub fn float(array: &ArrayRef, name: &str, what: &str) -> Result<Float64Array> {
    let cast = datafusion::arrow::compute::cast(array, &DataType::Float64)?;
    match cast.as_primitive_opt::<Float64Type>() {
        Some(a) => Ok(a.clone()),
        None => exec_err!("{name}: {what} must be numeric"),
    }
}

/// An argument cast to Utf8.
pub fn text(array: &ArrayRef, name: &str, what: &str) -> Result<StringArray> {
    let cast = datafusion::arrow::compute::cast(array, &DataType::Utf8)?;
    match cast.as_string_opt::<i32>() {
        Some(a) => Ok(a.clone()),
        None => exec_err!("{name}: {what} must be text"),
    }
}

/// A numeric signature accepting any numeric type for every argument.
pub fn numeric_signature(n: usize) -> datafusion::logical_expr::Signature {
    datafusion::logical_expr::Signature::uniform(
        n,
        vec![
            DataType::Float64,
            DataType::Float32,
            DataType::Int64,
            DataType::Int32,
            DataType::Int16,
            DataType::Int8,
            DataType::UInt64,
            DataType::UInt32,
            DataType::Decimal128(38, 10),
        ],
        datafusion::logical_expr::Volatility::Immutable,
    )
}
