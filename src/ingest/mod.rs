//! `skyql ingest`: FITS images and light-curve files into a catalogue version.
//!
//! FITS headers and light curves are parsed in parallel (rayon, `--jobs`); light curves
//! are processed in chunks of input bytes, each chunk written as one Parquet file per
//! field, sorted by star id then MJD, so that memory stays bounded by the chunk size.
//! Re-ingesting an input replaces what it gave before: images by path, measurements by
//! (star id, colour), star rows colour by colour. Every value read is written, counted
//! as missing (99.999 markers) or rejected with its file and line in `rejects/`.

mod carry_over;
pub mod described;
pub mod discover;
pub mod fits_images;
pub mod fits_tables;
pub mod into_store;
pub mod lightcurve;
pub mod measurements;
pub mod path_text;
mod references;
pub mod rejects;
pub mod report;
mod run;
pub mod same_id;
pub mod stars;
pub mod table_files;
pub mod tables;

use std::path::PathBuf;
use std::sync::Arc;

use crate::conventions::Conventions;
pub use discover::InputFormat;
pub use report::IngestReport;
pub use run::ingest;

/// Light-curve bytes parsed and held in memory at once.
pub const CHUNK_BYTES: u64 = 96 * 1024 * 1024;

/// What to ingest, where, how.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Files or directories.
    pub inputs: Vec<PathBuf>,
    /// Catalogue directory (created if absent).
    pub catalog: PathBuf,
    /// Forced format, else by file name.
    pub format: Option<InputFormat>,
    /// Worker threads (default: all cores).
    pub jobs: Option<usize>,
    /// Survey conventions.
    pub conventions: Conventions,
    /// Told of the files as they are read (the CLI draws a progress bar).
    pub progress: Option<Arc<dyn Progress>>,
    /// Table files to ingest as the catalogue tables of the given names (`--table
    /// NAME=PATH`: any kind `skyql query --table` reads).
    pub tables: Vec<(String, PathBuf)>,
}

/// What an ingest tells of its progress: the number of input files, then each file read.
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// The ingest starts reading `files` input files.
    fn start(&self, files: u64);
    /// `n` more files were read.
    fn advance(&self, n: u64);
    /// Reading is over.
    fn finish(&self);
}
