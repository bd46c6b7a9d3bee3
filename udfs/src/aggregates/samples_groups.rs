//! The vectorized form of [`super::samples::SamplesAccumulator`]: one accumulator for all
//! the groups of a GROUP BY (DataFusion's `GroupsAccumulator`), which appends each batch's
//! rows to their groups in one pass instead of slicing the batch per group.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, resources_err};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use super::samples::text_codes;
use crate::functions::args_float;

/// The results of many groups (each its sample columns) as one array.
pub type GroupsFinish = fn(&[Vec<Vec<f64>>]) -> Result<ArrayRef>;

/// Keeps every sample of every group; computes each group's result at the end.
#[derive(Debug)]
pub struct SamplesGroupsAccumulator {
    /// Per group, one vector per argument.
    groups: Vec<Vec<Vec<f64>>>,
    columns: usize,
    name: &'static str,
    finish: fn(&[Vec<f64>]) -> Result<ScalarValue>,
    /// Computes the results of many groups at once, when the aggregate has such a form.
    finish_groups: Option<GroupsFinish>,
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
            finish_groups: None,
            text_column,
        }
    }

    /// Computes the results of all the emitted groups with `finish_groups` (one array
    /// built column by column) instead of one scalar per group.
    pub fn with_groups_finish(mut self, finish_groups: GroupsFinish) -> Self {
        self.finish_groups = Some(finish_groups);
        self
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
        let kept: Vec<(usize, usize)> = group_indices
            .iter()
            .enumerate()
            .filter(|(row, _)| opt_filter.is_none_or(|m| m.is_valid(*row) && m.value(*row)))
            .map(|(row, &g)| (row, g))
            .collect();
        for (col, f) in floats.iter().enumerate() {
            let samples = f.values();
            for &(row, g) in &kept {
                self.groups[g][col].push(if f.is_null(row) {
                    f64::NAN
                } else {
                    samples[row]
                });
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = emit_to.take_needed(&mut self.groups);
        if let Some(finish_groups) = self.finish_groups {
            return finish_groups(&taken);
        }
        let results = taken
            .iter()
            .map(|columns| (self.finish)(columns))
            .collect::<Result<Vec<_>>>()?;
        ScalarValue::iter_to_array(results)
    }

    /// One list column per argument; each group's samples are freed as they are copied.
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let mut taken = emit_to.take_needed(&mut self.groups);
        let item = Arc::new(Field::new("item", DataType::Float64, true));
        let mut out = Vec::with_capacity(self.columns);
        for c in 0..self.columns {
            let total: usize = taken.iter().map(|g| g[c].len()).sum();
            if i32::try_from(total).is_err() {
                return resources_err!(
                    "{}: {total} samples in one state batch exceed a list's 2^31 - 1",
                    self.name
                );
            }
            let offsets = OffsetBuffer::<i32>::from_lengths(taken.iter().map(|g| g[c].len()));
            let mut samples = Vec::with_capacity(total);
            for g in taken.iter_mut() {
                samples.extend_from_slice(&std::mem::take(&mut g[c]));
            }
            let samples = Arc::new(Float64Array::from(samples));
            out.push(Arc::new(ListArray::new(item.clone(), offsets, samples, None)) as ArrayRef);
        }
        Ok(out)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        if values.len() != self.columns {
            return exec_err!(
                "{}: {} state columns, expected {}",
                self.name,
                values.len(),
                self.columns
            );
        }
        self.grow(total_num_groups);
        for (c, state) in values.iter().enumerate() {
            let Some(list) = state.as_list_opt::<i32>() else {
                return exec_err!("unexpected state type {}", state.data_type());
            };
            let Some(items) = list.values().as_primitive_opt::<Float64Type>() else {
                return exec_err!("unexpected state items {}", list.values().data_type());
            };
            let (offsets, samples) = (list.value_offsets(), items.values());
            for (row, &g) in group_indices.iter().enumerate() {
                if list.is_null(row) {
                    continue;
                }
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                let column = &mut self.groups[g][c];
                if items.null_count() == 0 {
                    column.extend_from_slice(&samples[start..end]);
                } else {
                    column.extend((start..end).map(|k| {
                        if items.is_null(k) {
                            f64::NAN
                        } else {
                            samples[k]
                        }
                    }));
                }
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
            out.push(Arc::new(lists) as ArrayRef);
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
