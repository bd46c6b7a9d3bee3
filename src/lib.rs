//! skyql: a SQL engine for survey catalogues.
//!
//! FITS images and light-curve files become a Parquet catalogue (`ingest`, written version
//! by version through `catalog`), queried through the one engine every front builds its
//! sessions from (`engine`: DataFusion with the functions and rules of `skyql-udfs`),
//! exported in the formats of `formats` by the streaming driver `export`. The command
//! line (`cli`) is a thin layer over these. The built-in demo survey (`demo`) is an
//! EROS-2-like survey written as real files, with the truth the tests compare against.
//! See docs/ARCHITECTURE.md.

pub mod access;
pub mod bench;
pub mod catalog;
pub mod cli;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod conventions;
pub mod demo;
pub mod engine;
pub mod export;
pub mod formats;
pub mod hats;
pub mod ingest;
pub mod named_queries;
pub mod object_stores;
pub mod plot;
pub mod schema;
pub mod service;
pub mod terminal_text;
pub mod toml_text;

pub use skyql_udfs;
