//! The shell's progress line: a query that runs longer than a second on a terminal shows
//! its elapsed time and the rows it has produced on standard error, updated in place and
//! erased when the result is printed.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::DataFrame;
use futures::StreamExt;

use crate::export::{ExportOptions, OutputFormat, export_stream};

/// A query runs this long before its progress line appears.
const QUIET_FOR: Duration = Duration::from_secs(1);
/// The line is redrawn this often.
const EVERY: Duration = Duration::from_millis(250);

/// Runs `df` and prints its result as a table, with a progress line on a terminal.
pub async fn print_with_progress(df: DataFrame) -> Result<()> {
    let stream = df.execute_stream().await?;
    if !std::io::stderr().is_terminal() {
        export_stream(stream, OutputFormat::Table, None, &ExportOptions::default()).await?;
        return Ok(());
    }
    let rows = Arc::new(AtomicU64::new(0));
    let counted = counting(stream, rows.clone());
    let start = Instant::now();
    let ticker = tokio::spawn(async move {
        tokio::time::sleep(QUIET_FOR).await;
        loop {
            let line = progress_text(start.elapsed(), rows.load(Ordering::Relaxed));
            let mut err = std::io::stderr();
            let _ = write!(err, "\r{line}\x1b[K");
            let _ = err.flush();
            tokio::time::sleep(EVERY).await;
        }
    });
    // The table is built from the whole result (its head and tail), then printed: the
    // line is erased before, whatever the outcome.
    let result = export_stream(
        counted,
        OutputFormat::Table,
        None,
        &ExportOptions::default(),
    )
    .await;
    ticker.abort();
    let _ = ticker.await;
    if start.elapsed() >= QUIET_FOR {
        let mut err = std::io::stderr();
        let _ = write!(err, "\r\x1b[K");
        let _ = err.flush();
    }
    result.map(|_| ())
}

/// The progress line's text.
fn progress_text(elapsed: Duration, rows: u64) -> String {
    format!(
        "running: {:.1} s, {rows} rows so far (Ctrl-C cancels)",
        elapsed.as_secs_f64()
    )
}

/// `stream`, counting its rows into `rows` as they pass.
fn counting(stream: SendableRecordBatchStream, rows: Arc<AtomicU64>) -> SendableRecordBatchStream {
    let schema = stream.schema();
    let counted = stream.inspect(move |batch| {
        if let Ok(b) = batch {
            rows.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, counted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_time_and_rows() {
        assert_eq!(
            progress_text(Duration::from_millis(2340), 1200),
            "running: 2.3 s, 1200 rows so far (Ctrl-C cancels)"
        );
    }
}
