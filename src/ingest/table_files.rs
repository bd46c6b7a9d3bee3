//! Table files written as catalogue tables through DataFusion: the files `skyql ingest
//! --table NAME=PATH` names (any kind `--table` reads: VOTable, CSV/TSV, text and CDS
//! catalogues, Parquet, FITS) and the FITS table files with positions.
//!
//! A table with positions (found as `xmatch` finds them) is written in HEALPix order:
//! `_healpix_29`, the order-29 NESTED index of its position (HATS's column; null for a
//! row without a position, those rows last), comes first and the rows are sorted by it.
//! Cones, `CONTAINS` and cross-matches on the table then read only the row groups and
//! pages of their cells, as on `stars` and HATS catalogues (the cone rule adds
//! `_healpix_29` ranges; the manifest keeps each file's range). The sort runs within
//! [`SORT_MEMORY`], spilling to a directory of the new version removed after.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use futures::StreamExt;
use skyql_udfs::table_functions::positions::position_columns;

use crate::catalog::parquet_io::{write_parquet_stream, writer_properties};
use crate::engine::{Engine, EngineOptions};
use crate::formats::text_lines::BadLines;
use crate::hats::options::HEALPIX29;

/// Memory the HEALPix sort of a table may hold before it spills.
const SORT_MEMORY: usize = 512 << 20;

/// Writes the table of `path` to the Parquet file `dest` (atomically), in HEALPix order
/// when it has positions, with `metadata` as its schema's metadata. `scratch` is a
/// directory of the new version the sort may spill to. Returns the rows written.
pub fn write_through_datafusion(
    path: &Path,
    dest: &Path,
    scratch: &Path,
    metadata: HashMap<String, String>,
) -> Result<u64> {
    let spill = scratch.join(".table-sort");
    // A runtime of its own, on a thread of its own: the ingest may run inside another.
    let outcome = std::thread::scope(|threads| {
        threads
            .spawn(|| write_on_own_runtime(path, dest, &spill, metadata))
            .join()
            .map_err(|_| anyhow::anyhow!("the table's writer stopped"))?
    });
    let _ = std::fs::remove_dir_all(&spill);
    outcome
}

fn write_on_own_runtime(
    path: &Path,
    dest: &Path,
    spill: &Path,
    metadata: HashMap<String, String>,
) -> Result<u64> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let engine = Engine::new(
        None,
        EngineOptions {
            memory_limit: Some(SORT_MEMORY),
            spill_dir: Some(spill.to_path_buf()),
            ..EngineOptions::default()
        },
    )?;
    let ctx = runtime.block_on(engine.session(&[]))?;
    runtime.block_on(crate::engine::tables::register_file(
        &ctx,
        "source",
        path,
        false,
        BadLines::Error,
    ))?;
    let source = runtime.block_on(ctx.table("source"))?;
    let quoted = |n: &str| format!("\"{}\"", n.replace('"', "\"\""));
    let position = position_columns(source.schema().as_arrow(), "").ok();
    let sql = match &position {
        Some((ra, dec)) => format!(
            "SELECT healpix({}, {}, 29) AS {HEALPIX29}, * FROM source ORDER BY {HEALPIX29} NULLS LAST",
            quoted(ra),
            quoted(dec)
        ),
        None => "SELECT * FROM source".to_string(),
    };
    let mut stream = runtime.block_on(async { ctx.sql(&sql).await?.execute_stream().await })?;
    let fields: Vec<_> = stream
        .schema()
        .fields()
        .iter()
        .map(|f| match &position {
            Some((ra, dec)) if f.name() == HEALPIX29 => {
                f.as_ref().clone().with_metadata(HashMap::from([(
                    "description".to_string(),
                    format!(
                        "HEALPix NESTED index at order 29 of ({ra}, {dec}), the order of the rows"
                    ),
                )]))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    let batches = std::iter::from_fn(|| runtime.block_on(stream.next()))
        .map(|b| Ok(RecordBatch::try_new(schema.clone(), b?.columns().to_vec())?));
    write_parquet_stream(dest, schema.clone(), batches, writer_properties())
}
