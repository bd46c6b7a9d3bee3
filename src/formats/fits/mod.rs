//! FITS binary tables: the streaming writer of query results (through cfitsio, with the
//! wrapper of `skyql_udfs::cfitsio`) and the reader of table HDUs (`--table NAME=file.fits`).

pub mod table_read;
pub mod table_write;

/// The extensions of FITS files, the one list every part reads (ingest, `--table`,
/// `--output`, `COPY ... TO`).
pub const FITS_EXTENSIONS: [&str; 3] = ["fits", "fit", "fts"];

/// The name without its FITS extension (any case), when it has one.
pub fn fits_stem(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    FITS_EXTENSIONS
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(e))
        .then_some(stem)
}
