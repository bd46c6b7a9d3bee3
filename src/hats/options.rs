//! The names and settings a HATS collection is written with, shared by the export and the
//! layout of its files.

/// The spatial index column of HATS: NESTED HEALPix index at order 29.
pub const HEALPIX29: &str = "_healpix_29";

/// What to export and how.
#[derive(Debug, Clone)]
pub struct HatsOptions {
    /// The catalogue's name (`obs_collection`, the inner directory's name).
    pub name: String,
    /// Most rows per pixel where a finer pixel can split it (`hats_max_rows`).
    pub max_rows: u64,
    /// Margin width, arcsec (`hats_margin_threshold`).
    pub margin_arcsec: f64,
}
