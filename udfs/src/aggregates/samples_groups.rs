//! The vectorized form of [`super::samples::SamplesAccumulator`]: one accumulator for all
//! the groups of a GROUP BY (DataFusion's `GroupsAccumulator`), which appends each batch's
//! rows to their groups in one pass instead of slicing the batch per group.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, ListArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use super::samples::text_codes;
use crate::functions::args_float;

/// Keeps every sample of every group; computes each group's result at the end.
#[derive(Debug)]
pub struct SamplesGroupsAccumulator {
    /// Per group, one vector per argument.
    groups: Vec<Vec<Vec<f64>>>,
    columns: usize,
    name: &'static str,
    finish: fn(&[Vec<f64>]) -> Result<ScalarValue>,
    text_column: Option<usize>,
}

impl SamplesGroupsAccumulator {
    /// A groups accumulator of `columns` arguments for the aggregate `name`.
    pub fn new(
        name: &'static str,
        columns: usize,
        finish: fn(&[Vec<f64>]) -> Result<ScalarValue>,
        text_column: Option<usize>,
    ) -> Self {
        SamplesGroupsAccumulator {
            groups: Vec::new(),
            columns,
            name,
            finish,
            text_column,
        }
    }

    fn grow(&mut self, total_num_groups: usize) {
        if self.groups.len() < total_num_groups {
            let columns = self.columns;
            self.groups
                .resize_with(total_num_groups, || vec![Vec::new(); columns]);
        }
    }
}

impl GroupsAccumulator for SamplesGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        if values.len() != self.columns {
            return exec_err!("{} takes {} arguments", self.name, self.columns);
        }
        self.grow(total_num_groups);
        let floats = values
            .iter()
            .enumerate()
            .map(|(k, v)| {
                let v = if Some(k) == self.text_column {
                    text_codes(v)?
                } else {
                    v.clone()
                };
                args_float(&v, self.name)
            })
            .collect::<Result<Vec<_>>>()?;
        for (row, &g) in group_indices.iter().enumerate() {
            if let Some(f) = opt_filter
                && !(f.is_valid(row) && f.value(row))
            {
                continue;
            }
            let group = &mut self.groups[g];
            for (col, f) in group.iter_mut().zip(&floats) {
                col.push(if f.is_null(row) {
                    f64::NAN
                } else {
                    f.value(row)
                });
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = emit_to.take_needed(&mut self.groups);
        let results = taken
            .iter()
            .map(|columns| (self.finish)(columns))
            .collect::<Result<Vec<_>>>()?;
        ScalarValue::iter_to_array(results)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = emit_to.take_needed(&mut self.groups);
        Ok((0..self.columns)
            .map(|c| {
                std::sync::Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(
                    taken
                        .iter()
                        .map(|g| Some(g[c].iter().map(|v| Some(*v)).collect::<Vec<_>>())),
                )) as ArrayRef
            })
            .collect())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        for (c, state) in values.iter().enumerate().take(self.columns) {
            let Some(list) = state.as_list_opt::<i32>() else {
                return exec_err!("unexpected state type {}", state.data_type());
            };
            for (row, &g) in group_indices.iter().enumerate() {
                if list.is_null(row) {
                    continue;
                }
                let v = list.value(row);
                let f = v.as_primitive::<Float64Type>();
                self.groups[g][c]
                    .extend((0..f.len()).map(|k| if f.is_null(k) { f64::NAN } else { f.value(k) }));
            }
        }
        Ok(())
    }

    /// Each input row as the state of a group of one row (used when DataFusion skips the
    /// partial aggregation): one-element lists, null where the filter excludes the row.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut out = Vec::with_capacity(self.columns);
        for (k, v) in values.iter().enumerate() {
            let v = if Some(k) == self.text_column {
                text_codes(v)?
            } else {
                v.clone()
            };
            let f = args_float(&v, self.name)?;
            let lists =
                ListArray::from_iter_primitive::<Float64Type, _, _>((0..f.len()).map(|row| {
                    let keep = opt_filter.is_none_or(|m| m.is_valid(row) && m.value(row));
                    keep.then(|| {
                        [Some(if f.is_null(row) {
                            f64::NAN
                        } else {
                            f.value(row)
                        })]
                    })
                }));
            out.push(std::sync::Arc::new(lists) as ArrayRef);
        }
        Ok(out)
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .groups
                .iter()
                .map(|g| 24 + g.iter().map(|c| 24 + c.capacity() * 8).sum::<usize>())
                .sum::<usize>()
    }
}
