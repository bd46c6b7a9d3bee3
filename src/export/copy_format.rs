//! `COPY (SELECT ...) TO 'file' STORED AS VOTABLE | FITS` through DataFusion's
//! file-format extension points.
//!
//! Each format is a [`FileFormatFactory`] registered in the session under the COPY names
//! of its row in `export::output_format::FORMATS` (`votable`/`vot`/`xml` for VOTable,
//! `fits`/`fit`/`fts` for FITS binary tables), so
//! `STORED AS` and the target's extension both find it. Its [`FileFormat`] only writes:
//! the plan ends in a [`DataSinkExec`] whose sink runs the same streaming writers as
//! `skyql query --format` (atomic rename included). Options: `serialization`
//! (`tabledata`, the default, or `binary2`) for VOTables.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{GetExt, Statistics, not_impl_err, plan_err};
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::{FileFormat, FileFormatFactory};
use datafusion::datasource::physical_plan::{
    CsvSource, FileScanConfig, FileSinkConfig, FileSource,
};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::object_store::{ObjectMeta, ObjectStore};
use datafusion::physical_expr::LexRequirement;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use datafusion::prelude::SessionContext;

use super::output_format::FORMATS;
use super::{ExportOptions, OutputFormat, export_stream};

/// Registers the VOTable and FITS formats for `COPY ... STORED AS`.
pub fn register_copy_formats(ctx: &SessionContext) -> Result<()> {
    let state = ctx.state_ref();
    let mut state = state.write();
    for spec in &FORMATS {
        for name in spec.copy_names {
            state.register_file_format(
                Arc::new(ExportFormatFactory {
                    ext: name.to_string(),
                    kind: spec.format,
                }),
                true,
            )?;
        }
    }
    Ok(())
}

/// A `STORED AS` name for one of skyql's export formats.
#[derive(Debug)]
pub struct ExportFormatFactory {
    ext: String,
    kind: OutputFormat,
}

impl GetExt for ExportFormatFactory {
    fn get_ext(&self) -> String {
        self.ext.clone()
    }
}

impl FileFormatFactory for ExportFormatFactory {
    fn create(
        &self,
        _state: &dyn Session,
        format_options: &HashMap<String, String>,
    ) -> Result<Arc<dyn FileFormat>> {
        let mut format = self.kind;
        for (key, value) in format_options {
            let key = key.strip_prefix("format.").unwrap_or(key);
            match (self.kind, key, value.to_ascii_lowercase().as_str()) {
                (OutputFormat::Votable, "serialization", "tabledata") => {
                    format = OutputFormat::Votable
                }
                (OutputFormat::Votable, "serialization", "binary2") => {
                    format = OutputFormat::VotableBinary2
                }
                (_, "single_file_output" | "execution.keep_partition_by_columns", _) => {}
                _ => {
                    return plan_err!(
                        "COPY ... STORED AS {}: unknown option '{key}' = '{value}' \
                         (VOTable takes serialization 'tabledata' or 'binary2')",
                        self.ext.to_uppercase()
                    );
                }
            }
        }
        Ok(Arc::new(ExportFileFormat {
            ext: self.ext.clone(),
            format,
        }))
    }

    fn default(&self) -> Arc<dyn FileFormat> {
        Arc::new(ExportFileFormat {
            ext: self.ext.clone(),
            format: self.kind,
        })
    }
}

/// A write-only file format backed by skyql's exporters.
#[derive(Debug)]
pub struct ExportFileFormat {
    ext: String,
    format: OutputFormat,
}

#[async_trait]
impl FileFormat for ExportFileFormat {
    fn get_ext(&self) -> String {
        self.ext.clone()
    }

    fn get_ext_with_compression(&self, _c: &FileCompressionType) -> Result<String> {
        Ok(self.ext.clone())
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        None
    }

    async fn infer_schema(
        &self,
        _state: &dyn Session,
        _store: &Arc<dyn ObjectStore>,
        _objects: &[ObjectMeta],
    ) -> Result<SchemaRef> {
        not_impl_err!(
            "{} files are written by COPY; read VOTables with `--table NAME=file.vot`",
            self.ext
        )
    }

    async fn infer_stats(
        &self,
        _state: &dyn Session,
        _store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        _object: &ObjectMeta,
    ) -> Result<Statistics> {
        Ok(Statistics::new_unknown(&table_schema))
    }

    async fn create_physical_plan(
        &self,
        _state: &dyn Session,
        _conf: FileScanConfig,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        not_impl_err!("{} is an export format: COPY writes it", self.ext)
    }

    async fn create_writer_physical_plan(
        &self,
        input: Arc<dyn ExecutionPlan>,
        _state: &dyn Session,
        conf: FileSinkConfig,
        order_requirements: Option<LexRequirement>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !conf.table_partition_cols.is_empty() {
            return not_impl_err!("COPY ... PARTITIONED BY is not supported for {}", self.ext);
        }
        if conf.object_store_url != ObjectStoreUrl::local_filesystem() {
            return plan_err!(
                "COPY TO {}: only local files can be written",
                conf.original_url
            );
        }
        let path = PathBuf::from(
            conf.original_url
                .strip_prefix("file://")
                .unwrap_or(&conf.original_url),
        );
        let sink = ExportSink {
            path,
            format: self.format,
            schema: conf.output_schema().clone(),
        };
        Ok(Arc::new(DataSinkExec::new(
            input,
            Arc::new(sink),
            order_requirements,
        )))
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        // Never used to read: `create_physical_plan` refuses. A source is still required
        // by the trait.
        Arc::new(CsvSource::new(table_schema))
    }
}

/// Writes the rows reaching a `DataSinkExec` to one file.
#[derive(Debug)]
struct ExportSink {
    path: PathBuf,
    format: OutputFormat,
    schema: SchemaRef,
}

impl DisplayAs for ExportSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ExportSink({:?}: {})", self.format, self.path.display())
    }
}

#[async_trait]
impl DataSink for ExportSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let summary = export_stream(
            data,
            self.format,
            Some(&self.path),
            &ExportOptions::default(),
        )
        .await
        .map_err(|e| DataFusionError::Execution(format!("{e:#}")))?;
        Ok(summary.rows)
    }
}
