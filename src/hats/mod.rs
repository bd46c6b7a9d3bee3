//! HATS (Hierarchical Adaptive Tiling Scheme): HEALPix-partitioned Parquet catalogues,
//! the format LSDB reads and writes and Rubin, ZTF and Gaia data are shared in.
//! [`export`] writes any table with positions as a HATS collection (catalogue and
//! margin); [`table`] registers a HATS directory as a table.

pub mod export;
pub mod layout;
pub mod options;
pub mod partitions;
pub mod properties;
pub mod table;
pub mod upload;

pub use export::{HatsSummary, export_hats};
pub use options::HatsOptions;
pub use table::{HatsLocation, hats_catalog_dir, locate, register_hats};
