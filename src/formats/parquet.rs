//! Parquet with the VOParquet keys (IVOA note "Parquet for the VO", version 1.0): the
//! file's key-value metadata holds `IVOA.VOTable-Parquet.version` = `1.0` and
//! `IVOA.VOTable-Parquet.content` = a VOTable document describing the same columns (with
//! units, UCDs and descriptions) and no DATA, so that TOPCAT and astropy see the metadata.
//! The document is written with the footer, after the data: each text column then has a
//! fixed `arraysize`, its longest value, which astropy needs to read the columns back
//! (`Table.read(path, format="parquet.votable")`), and astropy's own `table::len::NAME`
//! key says the same to its Parquet reader.

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_writer::ArrowWriterOptions;
use datafusion::parquet::file::metadata::KeyValue;

use super::columns::{Datatype, ExportColumn};
use super::votable::write::{self as votable, DocumentInfo};
use crate::catalog::parquet_io::writer_properties;

/// Key of the VOParquet version.
pub const VERSION_KEY: &str = "IVOA.VOTable-Parquet.version";
/// Key of the VOTable metadata document.
pub const CONTENT_KEY: &str = "IVOA.VOTable-Parquet.content";

/// The VOTable document stored under [`CONTENT_KEY`].
pub fn votable_content(columns: &[ExportColumn], info: &DocumentInfo) -> String {
    let mut doc = votable::header(columns, info);
    doc.push_str(&votable::footer(false, ""));
    doc
}

/// Streams flattened batches into a Parquet file.
pub struct VoParquetWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: Arc<Schema>,
    columns: Vec<ExportColumn>,
    info: DocumentInfo,
}

impl<W: Write + Send> VoParquetWriter<W> {
    /// Opens the writer; the key-value metadata is written with the footer.
    pub fn new(out: W, columns: &[ExportColumn], info: &DocumentInfo) -> Result<Self> {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(ExportColumn::arrow_field)
                .collect::<Vec<_>>(),
        ));
        let base = writer_properties();
        // Without the embedded Arrow schema, readers take the file's key-value metadata
        // (written last, below) as the schema's metadata, as astropy needs; the columns
        // are plain Parquet types either way.
        let options = ArrowWriterOptions::new()
            .with_properties(base)
            .with_skip_arrow_metadata(true);
        let writer = ArrowWriter::try_new_with_options(out, schema.clone(), options)?;
        let mut columns = columns.to_vec();
        for c in &mut columns {
            if c.kind == Datatype::Char && !c.is_array {
                c.char_length = Some(0);
            }
        }
        Ok(VoParquetWriter {
            writer,
            schema,
            columns,
            info: info.clone(),
        })
    }

    /// Writes one batch of normalized columns.
    pub fn write(&mut self, arrays: &[ArrayRef]) -> Result<()> {
        for (c, a) in self.columns.iter_mut().zip(arrays) {
            if let (Some(longest), Some(text)) = (c.char_length.as_mut(), a.as_string_opt::<i32>())
            {
                for v in text.iter().flatten() {
                    *longest = (*longest).max(v.chars().count());
                }
            }
        }
        let batch = RecordBatch::try_new(self.schema.clone(), arrays.to_vec())?;
        self.writer.write(&batch)?;
        Ok(())
    }

    /// Writes the footer with the VOParquet keys; returns the underlying writer.
    pub fn finish(mut self) -> Result<W> {
        self.writer
            .append_key_value_metadata(KeyValue::new(VERSION_KEY.to_string(), "1.0".to_string()));
        self.writer.append_key_value_metadata(KeyValue::new(
            CONTENT_KEY.to_string(),
            votable_content(&self.columns, &self.info),
        ));
        // astropy's Parquet reader sizes its string columns from these keys (without
        // them it measures every value, and fails on a null).
        for c in &self.columns {
            if let Some(n) = c.char_length {
                self.writer.append_key_value_metadata(KeyValue::new(
                    format!("table::len::{}", c.name),
                    n.max(1).to_string(),
                ));
            }
        }
        Ok(self.writer.into_inner()?)
    }
}
