//! A result column's values as Rust values, by the column's name: what the service's
//! indexes (the images, the reference images) read from their SQL answers.

use anyhow::Result;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};

/// The column `name` of `batch` as text, null as `None`.
pub fn texts(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| anyhow::anyhow!("no column {name}"))?;
    let column = cast(column, &DataType::Utf8)?;
    let column = column.as_string::<i32>();
    Ok((0..column.len())
        .map(|i| (!column.is_null(i)).then(|| column.value(i).to_string()))
        .collect())
}

/// The column `name` of `batch` as integers, null as `None`.
pub fn ints(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| anyhow::anyhow!("no column {name}"))?;
    let column = cast(column, &DataType::Int64)?;
    let column = column.as_primitive::<Int64Type>();
    Ok((0..column.len())
        .map(|i| (!column.is_null(i)).then(|| column.value(i)))
        .collect())
}
