//! The rows of a text export (CSV, VOTable TABLEDATA) encoded on several threads.
//!
//! Turning numbers into text costs more than decoding them from Parquet, so a text export
//! on one thread leaves the other cores idle. Each batch is cut into chunks of about
//! [`CHUNK_BYTES`] of text, flattened and turned into text on tokio's blocking pool while
//! the next batches are read; the texts are written in the order of the stream. At most
//! one chunk per core (plus one) is in flight and their buffers are reused (a new buffer
//! per chunk costs a page fault per 4 KB of text), so the text held stays near
//! (cores + 1) x [`CHUNK_BYTES`] whatever the number of rows (a single row longer than a
//! chunk is one chunk). Dropping the export (Ctrl-C, a time limit) aborts the chunks not
//! yet started; a panic while encoding resumes in the export.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, Result};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use super::RowLimit;
use crate::formats::columns::ExportLayout;
use crate::formats::row_text::RowText;

/// Text encoded by one task, about the size at which the writers used to flush.
pub const CHUNK_BYTES: usize = 1 << 20;

/// A chunk being encoded: its number of rows and their text.
type Encoding = SpawnedTask<Result<(usize, Vec<u8>)>>;

/// Reads `stream` up to `limit`, encodes its rows with `rows` on the blocking pool and
/// hands each chunk's text to `write`, in order.
pub async fn write_rows_in_parallel(
    stream: &mut SendableRecordBatchStream,
    limit: &mut RowLimit,
    layout: Arc<ExportLayout>,
    rows: Arc<dyn RowText>,
    mut write: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut encoder = Encoder {
        layout,
        rows,
        pending: VecDeque::with_capacity(in_flight()),
        spare: Arc::default(),
        row_bytes: 64,
    };
    while let Some(batch) = stream.next().await {
        let Some(batch) = limit.take(batch?) else {
            continue;
        };
        let chunk_rows = (CHUNK_BYTES / encoder.row_bytes).max(1);
        let mut start = 0;
        while start < batch.num_rows() {
            let n = chunk_rows.min(batch.num_rows() - start);
            encoder.spawn(batch.slice(start, n));
            start += n;
            if encoder.pending.len() >= in_flight() {
                encoder.write_oldest(&mut write).await?;
            }
        }
    }
    while !encoder.pending.is_empty() {
        encoder.write_oldest(&mut write).await?;
    }
    Ok(())
}

/// One task per core, plus one so that a core never waits for the writer.
fn in_flight() -> usize {
    static IN_FLIGHT: OnceLock<usize> = OnceLock::new();
    *IN_FLIGHT.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()) + 1)
}

/// The chunks in flight and what the next ones start with.
struct Encoder {
    layout: Arc<ExportLayout>,
    rows: Arc<dyn RowText>,
    pending: VecDeque<Encoding>,
    /// Emptied buffers of written chunks.
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Bytes per row of the widest chunk written so far: what sizes the chunks, and the
    /// first capacity of their buffers, which then seldom grow.
    row_bytes: usize,
}

impl Encoder {
    /// Starts encoding `chunk` on the blocking pool.
    fn spawn(&mut self, chunk: RecordBatch) {
        let (layout, rows, spare) = (self.layout.clone(), self.rows.clone(), self.spare.clone());
        let capacity = chunk.num_rows() * self.row_bytes;
        self.pending.push_back(SpawnedTask::spawn_blocking(move || {
            let arrays = layout.flatten(&chunk)?;
            let reused = spare.lock().ok().and_then(|mut s| s.pop());
            let mut text = reused.unwrap_or_default();
            text.reserve(capacity);
            rows.append_rows(&arrays, &mut text);
            Ok((chunk.num_rows(), text))
        }));
    }

    /// Waits for the oldest chunk, writes its text and keeps its buffer.
    async fn write_oldest(&mut self, write: &mut impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let task = self.pending.pop_front().context("no chunk in flight")?;
        let (n, mut text) = task
            .join_unwind()
            .await
            .context("encoding rows was cancelled")??;
        self.row_bytes = self.row_bytes.max(text.len() / n.max(1) + 1);
        write(&text)?;
        text.clear();
        if let Ok(mut spare) = self.spare.lock() {
            spare.push(text);
        }
        Ok(())
    }
}
