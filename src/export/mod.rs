//! Writing query results: a terminal table, CSV, JSON, Parquet (VOParquet), VOTable
//! (TABLEDATA or BINARY2) and FITS binary tables, batch by batch.
//!
//! Every format but the terminal table streams: memory does not grow with the number of
//! rows. Files are written under a temporary name and renamed when complete, so a failed
//! or interrupted export never leaves a partial file under the requested name. The same
//! writers serve `skyql query --format` and SQL `COPY ... TO ... STORED AS` (see
//! [`copy_format`]).

pub mod copy_format;
pub mod output_format;
mod parallel_rows;
pub mod special_file;
pub mod table;

pub use output_format::OutputFormat;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::ArrayWriter as JsonArrayWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use crate::catalog::durable::{is_special_file, parent_dir, sync_dir, sync_file, temporary_name};
use crate::formats::columns::ExportLayout;
use crate::formats::row_text::RowText;
pub use crate::formats::votable::write::ServiceDescriptor;
use crate::formats::votable::write::{DocumentInfo, Serialization, VotableWriter};
use crate::formats::{csv, fits, parquet};
use parallel_rows::write_rows_in_parallel;
use special_file::SpecialFile;

/// Options of an export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// CSV field delimiter.
    pub csv_delimiter: u8,
    /// CSV line ends: CRLF (`Some(true)`, RFC 4180), LF (`Some(false)`), or by default
    /// CRLF in files and LF on standard output and other streams.
    pub csv_crlf: Option<bool>,
    /// Stop after this many rows; VOTables then end with an OVERFLOW INFO.
    pub max_rows: Option<u64>,
    /// The SQL of the result, recorded in VOTable and FITS headers.
    pub query: Option<String>,
    /// Table name written in VOTables.
    pub table_name: Option<String>,
    /// Metadata given to named columns in place of their own (the UCD1s Simple Cone
    /// Search 1.03 clients look for, the unit of a computed distance).
    pub column_overrides: Vec<ColumnOverride>,
    /// Services the rows of a VOTable can be given to (the service's DataLink).
    pub services: Vec<ServiceDescriptor>,
}

/// What a column of a result is said to be, in place of what its schema says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnOverride {
    /// The column.
    pub name: String,
    /// Its UCD.
    pub ucd: Option<String>,
    /// Its unit.
    pub unit: Option<String>,
    /// Its description.
    pub description: Option<String>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            csv_delimiter: b',',
            csv_crlf: None,
            max_rows: None,
            query: None,
            table_name: None,
            column_overrides: Vec::new(),
            services: Vec::new(),
        }
    }
}

impl ExportOptions {
    /// These options with CSV line ends `crlf` unless they were chosen.
    fn with_csv_crlf_default(&self, crlf: bool) -> ExportOptions {
        ExportOptions {
            csv_crlf: Some(self.csv_crlf.unwrap_or(crlf)),
            ..self.clone()
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

/// Writes a stream of batches to `out`, a byte stream (the service's spool of a
/// synchronous result), as `write_result` writes files: CSV lines end in CRLF, the row
/// limit of `options` applies. FITS, which cfitsio writes by path, is written to a file in
/// `scratch` first, copied to `out` and removed.
pub async fn export_stream_to(
    stream: SendableRecordBatchStream,
    format: OutputFormat,
    out: Box<dyn Write + Send>,
    scratch: &Path,
    options: &ExportOptions,
) -> Result<ExportSummary> {
    let options = &options.with_csv_crlf_default(true);
    if format != OutputFormat::Fits {
        return write_stream(stream, format, Target::Writer(out), options).await;
    }
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = temporary_name(&scratch.join(format!("result-{n}.fits")));
    write_fits_through(stream, tmp, options, out).await
}

/// FITS, which cfitsio writes by path: written to `tmp` (removed afterwards, whatever
/// happens), then copied to `out`.
async fn write_fits_through(
    stream: SendableRecordBatchStream,
    tmp: PathBuf,
    options: &ExportOptions,
    mut out: Box<dyn Write + Send>,
) -> Result<ExportSummary> {
    let guard = PartialFile(tmp);
    let target = Target::Path(guard.0.clone());
    let summary = write_stream(stream, OutputFormat::Fits, target, options).await?;
    let mut from = std::fs::File::open(&guard.0).context("cannot read back the FITS result")?;
    std::io::copy(&mut from, &mut out)?;
    out.flush()?;
    Ok(summary)
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
        let options = &options.with_csv_crlf_default(false);
        return write_stream(stream, format, Target::Writer(Box::new(out)), options).await;
    }
    let path = output.context("no output path")?;
    if path.is_dir() {
        bail!("{} is a directory: give a file name", path.display());
    }
    if is_special_file(path) {
        return export_to_special_file(stream, format, path, options).await;
    }
    let dir = parent_dir(path);
    if !dir.is_dir() {
        bail!(
            "cannot write {}: the directory {} does not exist",
            path.display(),
            dir.display()
        );
    }
    let options = &options.with_csv_crlf_default(true);
    let guard = PartialFile(temporary_name(path));
    let tmp = guard.0.clone();
    let target = if format == OutputFormat::Fits {
        Target::Path(tmp.clone())
    } else {
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create a file in {}", dir.display()))?;
        Target::Writer(Box::new(std::io::BufWriter::with_capacity(1 << 20, file)))
    };
    let result = async {
        let summary = write_stream(stream, format, target, options).await?;
        sync_file(&tmp)?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename the finished file to {}", path.display()))?;
        sync_dir(&dir)?;
        Ok::<_, anyhow::Error>(summary)
    }
    .await;
    drop(guard);
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// A file being written under a temporary name: removed when dropped, whether the export
/// failed, was cancelled (Ctrl-C drops the future) or was renamed into place (then there
/// is nothing left to remove).
struct PartialFile(PathBuf);

impl Drop for PartialFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes to a device, FIFO or socket in place: such a file is never replaced (a rename
/// over `/dev/null` would turn it into a regular file). FITS, which cfitsio writes by
/// path, is written to a temporary file first and copied.
async fn export_to_special_file(
    stream: SendableRecordBatchStream,
    format: OutputFormat,
    path: &Path,
    options: &ExportOptions,
) -> Result<ExportSummary> {
    let options = &options.with_csv_crlf_default(false);
    if format != OutputFormat::Fits {
        let out = std::io::BufWriter::with_capacity(1 << 20, SpecialFile::open(path).await?);
        return write_stream(stream, format, Target::Writer(Box::new(out)), options).await;
    }
    let tmp = std::env::temp_dir().join(format!("skyql-{}.fits", std::process::id()));
    let out = SpecialFile::open(path).await?;
    write_fits_through(stream, tmp, options, Box::new(out))
        .await
        .with_context(|| format!("cannot write {}", path.display()))
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
    Fits(fits::table_write::FitsTableWriter),
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
            let mut shown = table::ShownRows::new(schema, table::SHOWN_ROWS);
            while let Some(b) = stream.next().await {
                if let Some(b) = limit.take(b?) {
                    shown.push(&b)?;
                }
            }
            let mut out = target.writer()?;
            write!(out, "{}", shown.render()?)?;
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
            let mut layout = ExportLayout::new(&schema);
            for o in &options.column_overrides {
                if let Some(c) = layout.columns.iter_mut().find(|c| c.name == o.name) {
                    c.ucd = o.ucd.clone().or(c.ucd.take());
                    c.unit = o.unit.clone().or(c.unit.take());
                    c.description = o.description.clone().or(c.description.take());
                }
            }
            let layout = Arc::new(layout);
            let mut sink = Sink::open(format, target, &layout, options)?;
            if let Some(rows) = sink.row_text() {
                let write = |text: &[u8]| sink.write_encoded(text);
                write_rows_in_parallel(&mut stream, &mut limit, layout, rows, write).await?;
            } else {
                while let Some(b) = stream.next().await {
                    if let Some(b) = limit.take(b?) {
                        sink.write(&layout.flatten(&b)?)?;
                    }
                }
            }
            sink.finish(limit.overflow)?;
        }
    }
    Ok(ExportSummary {
        rows: limit.rows,
        overflow: limit.overflow,
    })
}

impl Sink {
    /// The writer of `format` (CSV, VOTable, Parquet or FITS) on `target`.
    fn open(
        format: OutputFormat,
        target: Target,
        layout: &ExportLayout,
        options: &ExportOptions,
    ) -> Result<Sink> {
        let info = DocumentInfo {
            query: options.query.clone(),
            table_name: options.table_name.clone(),
            services: options.services.clone(),
        };
        let columns = &layout.columns;
        Ok(match format {
            OutputFormat::Csv => Sink::Csv(csv::CsvWriter::new(
                target.writer()?,
                columns,
                options.csv_delimiter,
                options.csv_crlf.unwrap_or(true),
            )?),
            OutputFormat::Votable => Sink::Votable(VotableWriter::new(
                target.writer()?,
                columns,
                &info,
                Serialization::TableData,
            )?),
            OutputFormat::VotableBinary2 => Sink::Votable(VotableWriter::new(
                target.writer()?,
                columns,
                &info,
                Serialization::Binary2,
            )?),
            OutputFormat::Parquet => Sink::Parquet(parquet::VoParquetWriter::new(
                target.writer()?,
                columns,
                &info,
            )?),
            OutputFormat::Fits => Sink::Fits(fits::table_write::FitsTableWriter::new(
                &target.path(),
                columns,
                options.query.clone(),
            )?),
            OutputFormat::Table | OutputFormat::Json => {
                bail!("{} is not a flattened format", format.name())
            }
        })
    }

    /// The text of the rows of the formats whose rows stand alone (CSV, TABLEDATA).
    fn row_text(&self) -> Option<Arc<dyn RowText>> {
        match self {
            Sink::Csv(w) => Some(w.row_text()),
            Sink::Votable(w) => w.row_text().map(|r| r as Arc<dyn RowText>),
            Sink::Parquet(_) | Sink::Fits(_) => None,
        }
    }

    /// Writes rows encoded by [`Self::row_text`].
    fn write_encoded(&mut self, text: &[u8]) -> Result<()> {
        match self {
            Sink::Csv(w) => w.write_encoded(text),
            Sink::Votable(w) => w.write_encoded(text),
            Sink::Parquet(_) | Sink::Fits(_) => bail!("Parquet and FITS rows are not text"),
        }
    }

    fn write(&mut self, arrays: &[datafusion::arrow::array::ArrayRef]) -> Result<()> {
        match self {
            Sink::Csv(w) => w.write(arrays),
            Sink::Votable(w) => w.write(arrays),
            Sink::Parquet(w) => w.write(arrays),
            Sink::Fits(w) => w.write(arrays),
        }
    }

    /// Ends the document (a VOTable with an OVERFLOW INFO when the row limit cut it).
    fn finish(self, overflow: bool) -> Result<()> {
        match self {
            Sink::Csv(w) => w.finish().flush()?,
            Sink::Votable(w) => w.finish(overflow)?.flush()?,
            Sink::Parquet(w) => w.finish()?.flush()?,
            Sink::Fits(w) => w.finish()?,
        }
        Ok(())
    }
}
