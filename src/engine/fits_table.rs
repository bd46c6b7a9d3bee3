//! `--table NAME=file.fits[#HDU]`: a FITS table HDU as a streaming table. Each scan opens
//! the file in a blocking thread and sends batches of at most 32,768 rows (fewer for wide
//! rows), so a table
//! larger than memory is never read whole; the thread stops when the query stops.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;

use crate::formats::fits::table_read::{FitsTable, open_table, read_batches};

/// Whether `path` names a FITS file (`.fits`, `.fit`, `.fts`). A compressed FITS file is
/// refused when opened (`skyql_udfs::file_content`): cfitsio would expand it in memory.
pub fn is_fits_name(path: &Path) -> bool {
    crate::formats::fits::fits_stem(&path.to_string_lossy()).is_some()
}

/// Splits `file.fits#HDU` into the file and the HDU (a number or an EXTNAME).
pub fn split_hdu(path: &Path) -> Option<(&Path, &str)> {
    let text = path.to_str()?;
    let (file, hdu) = text.rsplit_once('#')?;
    let file = Path::new(file);
    (is_fits_name(file) && !hdu.is_empty()).then_some((file, hdu))
}

/// Registers the table HDU `hdu` (or the first table HDU) of `path` as `name`.
pub fn register_fits_table(
    ctx: &SessionContext,
    name: &str,
    path: &Path,
    hdu: Option<&str>,
) -> Result<()> {
    let table = open_table(path, hdu).map_err(|e| e.context(format!("--table {name}")))?;
    let schema = table.schema.clone();
    let stream = Arc::new(FitsStream { table }) as Arc<dyn PartitionStream>;
    ctx.register_table(
        name,
        Arc::new(StreamingTable::try_new(schema, vec![stream])?),
    )?;
    Ok(())
}

#[derive(Debug)]
struct FitsStream {
    table: FitsTable,
}

impl PartitionStream for FitsStream {
    fn schema(&self) -> &SchemaRef {
        &self.table.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut builder = RecordBatchReceiverStream::builder(self.table.schema.clone(), 2);
        let tx = builder.tx();
        let table = self.table.clone();
        builder.spawn_blocking(move || {
            let external = |e: anyhow::Error| DataFusionError::External(format!("{e:#}").into());
            for batch in read_batches(&table).map_err(external)? {
                if tx.blocking_send(Ok(batch.map_err(external)?)).is_err() {
                    break; // the query stopped
                }
            }
            Ok(())
        });
        builder.build()
    }
}
