//! Writing query results: a terminal table, CSV, JSON, Parquet (VOParquet), VOTable
//! (TABLEDATA or BINARY2) and FITS binary tables, batch by batch.
//!
//! Every format but the terminal table streams: memory does not grow with the number of
//! rows. Files are written under a temporary name and renamed when complete, so a failed
//! or interrupted export never leaves a partial file under the requested name. The same
//! writers serve `skyql query --format` and SQL `COPY ... TO ... STORED AS` (see
//! [`copy_format`]).

pub mod columns;
pub mod copy_format;
pub mod csv;
pub mod fits_table;
pub mod parquet;
pub mod typed;
pub mod votable;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::ArrayWriter as JsonArrayWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use crate::catalog::temporary_name;
use columns::ExportLayout;
use votable::{DocumentInfo, Serialization, VotableWriter};

/// Output formats of `skyql query` and `COPY ... STORED AS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A table for people (the whole result is held in memory).
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
    /// Parquet with the VOParquet metadata keys.
    Parquet,
    /// VOTable 1.4, TABLEDATA serialization.
    Votable,
    /// VOTable 1.4, BINARY2 serialization.
    #[value(name = "votable-binary2")]
    VotableBinary2,
    /// FITS binary table (BINTABLE).
    Fits,
}

impl OutputFormat {
    /// The usual file extension of the format.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Table => "txt",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
            OutputFormat::Parquet => "parquet",
            OutputFormat::Votable | OutputFormat::VotableBinary2 => "vot",
            OutputFormat::Fits => "fits",
        }
    }
}

/// Options of an export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// CSV field delimiter.
    pub csv_delimiter: u8,
    /// Stop after this many rows; VOTables then end with an OVERFLOW INFO.
    pub max_rows: Option<u64>,
    /// The SQL of the result, recorded in VOTable and FITS headers.
    pub query: Option<String>,
    /// Table name written in VOTables.
    pub table_name: Option<String>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            csv_delimiter: b',',
            max_rows: None,
            query: None,
            table_name: None,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// Rows written.
    pub rows: u64,
    /// Whether the row limit cut the result.
    pub overflow: bool,
}

/// Runs `df` and writes its result to `output` (a file, or standard output for `None`
/// or `-`).
pub async fn write_result(
    df: DataFrame,
    format: OutputFormat,
    output: Option<&Path>,
    options: &ExportOptions,
) -> Result<ExportSummary> {
    let df = match options.max_rows {
        // One row more than the limit tells whether the limit cut the result.
        Some(max) => df.limit(0, Some(max as usize + 1))?,
        None => df,
    };
    let stream = df.execute_stream().await?;
    export_stream(stream, format, output, options).await
}

/// Writes a stream of batches to `output` (a file, or standard output for `None` or `-`).
pub async fn export_stream(
    stream: SendableRecordBatchStream,
    format: OutputFormat,
    output: Option<&Path>,
    options: &ExportOptions,
) -> Result<ExportSummary> {
    let to_stdout = output.is_none_or(|p| p.as_os_str() == "-");
    if to_stdout {
        let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout());
        return write_stream(stream, format, Target::Writer(Box::new(out)), options).await;
    }
    let path = output.context("no output path")?;
    if path.is_dir() {
        bail!("{} is a directory: give a file name", path.display());
    }
    let tmp = temporary_name(path);
    let target = if format == OutputFormat::Fits {
        Target::Path(tmp.clone())
    } else {
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        Target::Writer(Box::new(std::io::BufWriter::with_capacity(1 << 20, file)))
    };
    match write_stream(stream, format, target, options).await {
        Ok(summary) => {
            std::fs::rename(&tmp, path).with_context(|| {
                format!("cannot rename {} to {}", tmp.display(), path.display())
            })?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e.context(format!("cannot write {}", path.display())))
        }
    }
}

/// Where an export goes: a byte stream, or a path for writers that need one (FITS).
enum Target {
    Writer(Box<dyn Write + Send>),
    Path(PathBuf),
}

impl Target {
    fn writer(self) -> Result<Box<dyn Write + Send>> {
        match self {
            Target::Writer(w) => Ok(w),
            Target::Path(p) => Ok(Box::new(std::io::BufWriter::new(
                std::fs::File::create(&p)
                    .with_context(|| format!("cannot create {}", p.display()))?,
            ))),
        }
    }

    fn path(&self) -> PathBuf {
        match self {
            Target::Path(p) => p.clone(),
            Target::Writer(_) => PathBuf::from("-"),
        }
    }
}

/// One of the streaming writers, fed flattened batches.
enum Sink {
    Csv(csv::CsvWriter<Box<dyn Write + Send>>),
    Votable(VotableWriter<Box<dyn Write + Send>>),
    Parquet(parquet::VoParquetWriter<Box<dyn Write + Send>>),
    Fits(fits_table::FitsTableWriter),
}

/// Cuts batches at the row limit and remembers whether it cut anything.
struct RowLimit {
    max: Option<u64>,
    rows: u64,
    overflow: bool,
}

impl RowLimit {
    /// The part of `batch` within the limit (None once the limit is reached).
    fn take(&mut self, batch: RecordBatch) -> Option<RecordBatch> {
        let n = batch.num_rows() as u64;
        let Some(max) = self.max else {
            self.rows += n;
            return Some(batch);
        };
        let room = max - self.rows;
        if n > room {
            self.overflow = true;
        }
        let keep = n.min(room);
        self.rows += keep;
        (keep > 0).then(|| batch.slice(0, keep as usize))
    }
}

async fn write_stream(
    mut stream: SendableRecordBatchStream,
    format: OutputFormat,
    target: Target,
    options: &ExportOptions,
) -> Result<ExportSummary> {
    let schema: SchemaRef = stream.schema();
    let mut limit = RowLimit {
        max: options.max_rows,
        rows: 0,
        overflow: false,
    };
    match format {
        OutputFormat::Table => {
            let mut batches = Vec::new();
            while let Some(b) = stream.next().await {
                if let Some(b) = limit.take(b?) {
                    batches.push(b);
                }
            }
            if batches.is_empty() {
                batches.push(RecordBatch::new_empty(schema));
            }
            let mut out = target.writer()?;
            writeln!(out, "{}", pretty_format_batches(&batches)?)?;
            let rows = limit.rows;
            writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
            if limit.overflow {
                writeln!(out, "(cut at the row limit)")?;
            }
            out.flush()?;
        }
        OutputFormat::Json => {
            let mut out = target.writer()?;
            let mut writer = JsonArrayWriter::new(&mut out);
            while let Some(b) = stream.next().await {
                if let Some(b) = limit.take(b?) {
                    writer.write(&b)?;
                }
            }
            writer.finish()?;
            drop(writer);
            out.flush()?;
        }
        _ => {
            let layout = ExportLayout::new(&schema);
            let info = DocumentInfo {
                query: options.query.clone(),
                table_name: options.table_name.clone(),
            };
            let mut sink = match format {
                OutputFormat::Csv => Sink::Csv(csv::CsvWriter::new(
                    target.writer()?,
                    &layout.columns,
                    options.csv_delimiter,
                )?),
                OutputFormat::Votable | OutputFormat::VotableBinary2 => {
                    let serialization = if format == OutputFormat::Votable {
                        Serialization::TableData
                    } else {
                        Serialization::Binary2
                    };
                    Sink::Votable(VotableWriter::new(
                        target.writer()?,
                        &layout.columns,
                        &info,
                        serialization,
                    )?)
                }
                OutputFormat::Parquet => Sink::Parquet(parquet::VoParquetWriter::new(
                    target.writer()?,
                    &layout.columns,
                    &info,
                )?),
                _ => Sink::Fits(fits_table::FitsTableWriter::new(
                    &target.path(),
                    &layout.columns,
                    options.query.clone(),
                )?),
            };
            while let Some(b) = stream.next().await {
                let Some(b) = limit.take(b?) else {
                    continue;
                };
                let arrays = layout.flatten(&b)?;
                match &mut sink {
                    Sink::Csv(w) => w.write(&arrays)?,
                    Sink::Votable(w) => w.write(&arrays)?,
                    Sink::Parquet(w) => w.write(&arrays)?,
                    Sink::Fits(w) => w.write(&arrays)?,
                }
            }
            match sink {
                Sink::Csv(w) => w.finish().flush()?,
                Sink::Votable(w) => w.finish(limit.overflow)?.flush()?,
                Sink::Parquet(w) => w.finish()?.flush()?,
                Sink::Fits(w) => w.finish()?,
            }
        }
    }
    Ok(ExportSummary {
        rows: limit.rows,
        overflow: limit.overflow,
    })
}
