//! Parquet with the VOParquet keys (IVOA note "Parquet for the VO", version 1.0): the
//! file's key-value metadata holds `IVOA.VOTable-Parquet.version` = `1.0` and
//! `IVOA.VOTable-Parquet.content` = a VOTable document describing the same columns (with
//! units, UCDs and descriptions) and no DATA, so that TOPCAT and astropy see the metadata.

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::WriterProperties;

use super::columns::ExportColumn;
use super::votable::write::{self as votable, DocumentInfo};
use crate::catalog::parquet_io::writer_properties;

/// Key of the VOParquet version.
pub const VERSION_KEY: &str = "IVOA.VOTable-Parquet.version";
/// Key of the VOTable metadata document.
pub const CONTENT_KEY: &str = "IVOA.VOTable-Parquet.content";

/// The VOTable document stored under [`CONTENT_KEY`].
pub fn votable_content(columns: &[ExportColumn], info: &DocumentInfo) -> String {
    let mut doc = votable::header(columns, info);
    doc.push_str(&votable::footer(false));
    doc
}

/// Streams flattened batches into a Parquet file.
pub struct VoParquetWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: Arc<Schema>,
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
        let base: WriterProperties = writer_properties();
        let props = base
            .into_builder()
            .set_key_value_metadata(Some(vec![
                KeyValue::new(VERSION_KEY.to_string(), "1.0".to_string()),
                KeyValue::new(CONTENT_KEY.to_string(), votable_content(columns, info)),
            ]))
            .build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props))?;
        Ok(VoParquetWriter { writer, schema })
    }

    /// Writes one batch of normalized columns.
    pub fn write(&mut self, arrays: &[ArrayRef]) -> Result<()> {
        let batch = RecordBatch::try_new(self.schema.clone(), arrays.to_vec())?;
        self.writer.write(&batch)?;
        Ok(())
    }

    /// Writes the footer; returns the underlying writer.
    pub fn finish(self) -> Result<W> {
        Ok(self.writer.into_inner()?)
    }
}
