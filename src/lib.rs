//! skyql: a SQL engine for survey catalogues.
//!
//! FITS images and light-curve files become a Parquet catalogue (`ingest`), registered in
//! Apache DataFusion with the astronomy functions of `skyql-udfs` (`catalog::session`),
//! queried from the command line (`cli`). The built-in demo survey (`demo`) is an
//! EROS-2-like survey written as real files, with the truth the tests compare against.

pub mod bench;
pub mod catalog;
pub mod cli;
pub mod conventions;
pub mod demo;
pub mod demo_run;
pub mod export;
pub mod ingest;
pub mod named_queries;
pub mod plot;
pub mod schema;
pub mod shell;
pub mod votable_reader;

pub use skyql_udfs;
