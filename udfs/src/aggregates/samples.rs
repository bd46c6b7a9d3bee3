//! An accumulator that keeps the samples of a group (as Float64 lists in its state), for
//! statistics that need them all (median, pairing of colours).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};

use crate::functions::args_float;

/// Columns of samples (each a Vec<f64>), NaN for a null value.
#[derive(Debug, Default)]
pub struct Samples {
    /// One vector per input column.
    pub columns: Vec<Vec<f64>>,
}

impl Samples {
    /// `n` empty columns.
    pub fn new(n: usize) -> Self {
        Samples {
            columns: vec![Vec::new(); n],
        }
    }

    /// Appends the rows of a batch of arguments (cast to Float64; nulls become NaN).
    pub fn update(&mut self, values: &[ArrayRef], name: &str) -> Result<()> {
        if values.len() != self.columns.len() {
            return exec_err!("{name} takes {} arguments", self.columns.len());
        }
        for (col, v) in self.columns.iter_mut().zip(values) {
            let f = args_float(v, name)?;
            col.extend((0..f.len()).map(|i| if f.is_null(i) { f64::NAN } else { f.value(i) }));
        }
        Ok(())
    }

    /// The state: one list per column.
    pub fn state(&self) -> Vec<ScalarValue> {
        self.columns
            .iter()
            .map(|c| {
                let values = Float64Array::from(c.clone());
                ScalarValue::List(Arc::new(
                    ListArray::from_iter_primitive::<Float64Type, _, _>([Some(
                        values.iter().collect::<Vec<_>>(),
                    )]),
                ))
            })
            .collect()
    }

    /// Merges states produced by [`Samples::state`].
    pub fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        for (col, s) in self.columns.iter_mut().zip(states) {
            let Some(list) = s.as_list_opt::<i32>() else {
                return exec_err!("unexpected state type {}", s.data_type());
            };
            for i in 0..list.len() {
                if list.is_null(i) {
                    continue;
                }
                let v = list.value(i);
                let f = v.as_primitive::<Float64Type>();
                col.extend((0..f.len()).map(|k| if f.is_null(k) { f64::NAN } else { f.value(k) }));
            }
        }
        Ok(())
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .columns
                .iter()
                .map(|c| c.capacity() * 8 + 24)
                .sum::<usize>()
    }
}

/// State fields: one Float64 list per input column.
pub fn state_fields(name: &str, columns: &[&str]) -> Vec<FieldRef> {
    columns
        .iter()
        .map(|c| {
            Arc::new(Field::new(
                format!("{name}_{c}"),
                DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
                true,
            ))
        })
        .collect()
}

/// Median of a non-empty slice (sorted copy).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}
