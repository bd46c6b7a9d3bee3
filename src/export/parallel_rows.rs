//! The rows of a text export (CSV, VOTable TABLEDATA) encoded on several threads.
//!
//! Turning numbers into text costs more than decoding them from Parquet, so a text export
//! on one thread leaves the other cores idle. Each batch is flattened and turned into
//! text on tokio's blocking pool while the next batches are read; the texts are written
//! in the order of the stream. At most one batch per core (plus one) is in flight, so
//! memory stays bounded by a few batches whatever the number of rows; their text buffers
//! are reused (a new buffer per batch costs a page fault per 4 KB of text).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use tokio::task::JoinHandle;

use super::RowLimit;
use crate::formats::columns::ExportLayout;
use crate::formats::row_text::RowText;

/// Reads `stream` up to `limit`, encodes its batches with `rows` on the blocking pool and
/// hands each batch's text to `write`, in order.
pub async fn write_rows_in_parallel(
    stream: &mut SendableRecordBatchStream,
    limit: &mut RowLimit,
    layout: Arc<ExportLayout>,
    rows: Arc<dyn RowText>,
    mut write: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let in_flight = std::thread::available_parallelism().map_or(2, |n| n.get()) + 1;
    let mut pending: VecDeque<Encoding> = VecDeque::with_capacity(in_flight);
    // Bytes per row of the widest batch written so far: the first capacity of the next
    // buffers, which then seldom grow (each growth copies the text written so far).
    let mut row_bytes = 64;
    let spare: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    while let Some(batch) = stream.next().await {
        let Some(batch) = limit.take(batch?) else {
            continue;
        };
        let (layout, rows, spare_buffers) = (layout.clone(), rows.clone(), spare.clone());
        let capacity = batch.num_rows() * row_bytes;
        pending.push_back(tokio::task::spawn_blocking(move || {
            let arrays = layout.flatten(&batch)?;
            let reused = spare_buffers.lock().ok().and_then(|mut s| s.pop());
            let mut text = reused.unwrap_or_default();
            text.reserve(capacity);
            rows.append_rows(&arrays, &mut text);
            Ok((batch.num_rows(), text))
        }));
        if pending.len() >= in_flight {
            let (n, text) = oldest(&mut pending).await?;
            row_bytes = row_bytes.max(text.len() / n.max(1) + 1);
            write(&text)?;
            give_back(&spare, text);
        }
    }
    while !pending.is_empty() {
        write(&oldest(&mut pending).await?.1)?;
    }
    Ok(())
}

/// Returns a written buffer, emptied, to the spare ones.
fn give_back(spare: &Mutex<Vec<Vec<u8>>>, mut text: Vec<u8>) {
    text.clear();
    if let Ok(mut spare) = spare.lock() {
        spare.push(text);
    }
}

/// A batch being encoded: its number of rows and their text.
type Encoding = JoinHandle<Result<(usize, Vec<u8>)>>;

/// The oldest batch in flight, once encoded.
async fn oldest(pending: &mut VecDeque<Encoding>) -> Result<(usize, Vec<u8>)> {
    let task = pending.pop_front().context("no batch in flight")?;
    task.await.context("encoding a batch's rows failed")?
}
