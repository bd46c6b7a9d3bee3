//! `skyql ingest --catalog s3://BUCKET/PREFIX`: the ingest of a local catalogue, run on a
//! scratch copy of the remote one and published with the object-store commit protocol
//! ([`crate::catalog::remote_write`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use url::Url;

use super::{IngestOptions, IngestReport, ingest};
use crate::catalog::remote_write::RemoteWriter;

/// Ingests `opts.inputs` into the catalogue at `url`; the report names the URL.
pub fn ingest_into_store(url: &Url, opts: &IngestOptions) -> Result<IngestReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start a runtime")?;
    let writer = runtime.block_on(RemoteWriter::begin(url))?;
    let local = IngestOptions {
        catalog: writer.scratch_catalog(),
        ..opts.clone()
    };
    let mut report = match ingest(&local) {
        Ok(report) => report,
        Err(e) => {
            runtime.block_on(writer.release());
            return Err(e);
        }
    };
    let url = writer.url().clone();
    let scratch = writer.scratch_catalog();
    runtime.block_on(writer.publish())?;
    report.catalog = PathBuf::from(url.as_str());
    if let Ok(rest) = report.rejects_file.strip_prefix(&scratch) {
        report.rejects_file = PathBuf::from(format!("{url}/{}", rest.display()));
    }
    Ok(report)
}
