//! FITS binary tables: the streaming writer of query results (through cfitsio, with the
//! wrapper of `skyql_udfs::cfitsio`) and the reader of table HDUs (`--table NAME=file.fits`).

pub mod table_read;
pub mod table_write;
