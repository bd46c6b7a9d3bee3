//! An accumulator that keeps the samples of a group (as Float64 lists in its state), for
//! statistics that need them all (median, pairing of colours).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::Accumulator;

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

/// Median of a slice, reordering it in place (a selection, no sort); panics when empty
/// (callers check).
pub fn median(values: &mut [f64]) -> f64 {
    let n = values.len();
    let (lower, upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return upper;
    }
    // An even length: the other middle value is the largest of the lower half (never
    // empty here), in the order a sort by `total_cmp` would give.
    let below = lower
        .iter()
        .copied()
        .max_by(f64::total_cmp)
        .unwrap_or(upper);
    0.5 * (below + upper)
}

/// An accumulator that keeps every sample and computes its result at the end.
#[derive(Debug)]
pub struct SamplesAccumulator {
    samples: Samples,
    name: &'static str,
    /// Computes the result from the sample columns.
    finish: fn(&[Vec<f64>]) -> Result<ScalarValue>,
    /// An argument given as text (a colour) and kept as the code of its first byte.
    text_column: Option<usize>,
}

impl SamplesAccumulator {
    /// An accumulator of `columns` arguments for the aggregate `name`.
    pub fn new(
        name: &'static str,
        columns: usize,
        finish: fn(&[Vec<f64>]) -> Result<ScalarValue>,
        text_column: Option<usize>,
    ) -> Self {
        SamplesAccumulator {
            samples: Samples::new(columns),
            name,
            finish,
            text_column,
        }
    }
}

/// Text values as the code of their first byte (numbers are kept as they are).
pub fn text_codes(a: &ArrayRef) -> Result<ArrayRef> {
    if a.data_type().is_numeric() {
        return Ok(a.clone());
    }
    let s = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
    let Some(s) = s.as_string_opt::<i32>() else {
        return exec_err!("expected text or a number, got {}", a.data_type());
    };
    let codes: Float64Array = (0..s.len())
        .map(|i| (!s.is_null(i)).then(|| s.value(i).bytes().next().map_or(0.0, f64::from)))
        .collect();
    Ok(Arc::new(codes))
}

impl Accumulator for SamplesAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match self.text_column {
            Some(i) if i < values.len() => {
                let mut v = values.to_vec();
                v[i] = text_codes(&values[i])?;
                self.samples.update(&v, self.name)
            }
            _ => self.samples.update(values, self.name),
        }
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        (self.finish)(&self.samples.columns)
    }
    fn size(&self) -> usize {
        self.samples.size()
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self.samples.state())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.samples.merge(states)
    }
}
