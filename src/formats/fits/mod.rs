//! FITS binary tables: the streaming writer of query results (through cfitsio, with the
//! wrapper of `skyql_udfs::images::fits_io`).

pub mod table_write;
