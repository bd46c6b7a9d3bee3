//! Writing query results: a terminal table, CSV, JSON or Parquet, batch by batch.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::json::ArrayWriter as JsonArrayWriter;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::dataframe::DataFrame;
use datafusion::parquet::arrow::ArrowWriter;
use futures::StreamExt;

use crate::catalog::parquet_io::writer_properties;
use crate::catalog::temporary_name;

/// Output formats of `skyql query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A table for people (the whole result is held in memory).
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
    /// Parquet.
    Parquet,
}

/// Runs `df` and writes its result to `output` (a file, or standard output for `None`
/// or `-`). Files are written under a temporary name and renamed when complete.
/// Returns the number of rows.
pub async fn write_result(
    df: DataFrame,
    format: OutputFormat,
    output: Option<&Path>,
) -> Result<u64> {
    let to_stdout = output.is_none_or(|p| p.as_os_str() == "-");
    if to_stdout {
        let mut out = std::io::BufWriter::new(std::io::stdout());
        let rows = write_to(df, format, &mut out).await?;
        out.flush().ok();
        return Ok(rows);
    }
    let path = output.context("no output path")?;
    let tmp = temporary_name(path);
    let result = async {
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(&tmp)
                .with_context(|| format!("cannot create {}", tmp.display()))?,
        );
        let rows = write_to(df, format, &mut file).await?;
        file.flush()?;
        Ok::<u64, anyhow::Error>(rows)
    }
    .await;
    match result {
        Ok(rows) => {
            std::fs::rename(&tmp, path).with_context(|| {
                format!("cannot rename {} to {}", tmp.display(), path.display())
            })?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

async fn write_to<W: Write + Send>(
    df: DataFrame,
    format: OutputFormat,
    out: &mut W,
) -> Result<u64> {
    let schema = df.schema().inner().clone();
    let mut stream = df.execute_stream().await?;
    let mut rows = 0u64;
    match format {
        OutputFormat::Table => {
            let mut batches = Vec::new();
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                batches.push(b);
            }
            if batches.is_empty() {
                batches.push(datafusion::arrow::record_batch::RecordBatch::new_empty(
                    schema,
                ));
            }
            writeln!(out, "{}", pretty_format_batches(&batches)?)?;
            writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
        }
        OutputFormat::Csv => {
            let mut writer = CsvWriterBuilder::new().with_header(true).build(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                writer.write(&b).context("cannot write CSV (struct, list and map columns cannot be CSV cells: select their fields)")?;
            }
            if rows == 0 {
                writer.write(&datafusion::arrow::record_batch::RecordBatch::new_empty(
                    schema,
                ))?;
            }
        }
        OutputFormat::Json => {
            let mut writer = JsonArrayWriter::new(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                writer.write(&b)?;
            }
            writer.finish()?;
        }
        OutputFormat::Parquet => {
            let mut writer = ArrowWriter::try_new(out, schema, Some(writer_properties()))?;
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                writer.write(&b)?;
            }
            writer.close()?;
        }
    }
    Ok(rows)
}
