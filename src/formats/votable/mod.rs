//! VOTable 1.4: the reader (TABLEDATA, BINARY, BINARY2 into Arrow, for `--table`), the
//! streaming writer (TABLEDATA, BINARY2); both use the datatype table (`formats::datatype`).

pub mod read;
pub mod write;

pub use read::{VotableTable, read_votable};
