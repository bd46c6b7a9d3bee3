//! The table for people (`--format table`, the shell): the first and last rows of a
//! result and its row count, in memory bounded by the rows shown, however long the
//! result, as DuckDB's shell does.

use std::collections::VecDeque;

use anyhow::Result;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;

/// Rows shown at most (half from the start, half from the end).
pub const SHOWN_ROWS: usize = 40;

/// The head and tail of a stream of batches, and its row count.
pub struct ShownRows {
    schema: SchemaRef,
    limit: usize,
    head: Vec<RecordBatch>,
    head_rows: usize,
    tail: VecDeque<RecordBatch>,
    tail_rows: usize,
    rows: u64,
}

impl ShownRows {
    /// Keeps at most `limit` rows of results of `schema`.
    pub fn new(schema: SchemaRef, limit: usize) -> Self {
        ShownRows {
            schema,
            limit,
            head: Vec::new(),
            head_rows: 0,
            tail: VecDeque::new(),
            tail_rows: 0,
            rows: 0,
        }
    }

    /// Counts a batch and keeps what may be shown of it.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        let half = self.limit / 2;
        let mut batch = batch.clone();
        if self.head_rows < half {
            let take = (half - self.head_rows).min(batch.num_rows());
            self.head.push(batch.slice(0, take));
            self.head_rows += take;
            batch = batch.slice(take, batch.num_rows() - take);
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let keep = batch.num_rows().min(self.limit - half);
        // A copy of the kept rows, so that the tail does not pin whole input batches.
        let kept = concat_batches(&self.schema, &[batch.slice(batch.num_rows() - keep, keep)])?;
        self.tail_rows += kept.num_rows();
        self.tail.push_back(kept);
        while self.tail_rows > self.limit - half {
            let excess = self.tail_rows - (self.limit - half);
            let Some(front) = self.tail.pop_front() else {
                break;
            };
            if front.num_rows() > excess {
                self.tail
                    .push_front(front.slice(excess, front.num_rows() - excess));
                self.tail_rows -= excess;
            } else {
                self.tail_rows -= front.num_rows();
            }
        }
        Ok(())
    }

    /// The table text and the count line; when rows were left out, the first and last
    /// rows with the number omitted and how to get them all.
    pub fn render(&self) -> Result<String> {
        let rows = self.rows;
        let shown = (self.head_rows + self.tail_rows) as u64;
        let mut text = String::new();
        if shown == rows {
            let mut all: Vec<RecordBatch> = self.head.clone();
            all.extend(self.tail.iter().cloned());
            if all.is_empty() {
                all.push(RecordBatch::new_empty(self.schema.clone()));
            }
            text.push_str(&format!("{}\n", pretty_format_batches(&all)?));
            text.push_str(&format!("{rows} row{}\n", if rows == 1 { "" } else { "s" }));
        } else {
            text.push_str(&format!("{}\n", pretty_format_batches(&self.head)?));
            text.push_str(&format!("... {} rows not shown ...\n", rows - shown));
            let tail: Vec<RecordBatch> = self.tail.iter().cloned().collect();
            text.push_str(&format!("{}\n", pretty_format_batches(&tail)?));
            text.push_str(&format!(
                "{rows} rows (the first {} and the last {} shown; --format csv|votable|... or --output FILE for all)\n",
                self.head_rows, self.tail_rows
            ));
        }
        Ok(text)
    }
}
