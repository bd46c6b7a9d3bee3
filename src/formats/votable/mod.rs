//! VOTable 1.4: the reader (TABLEDATA, BINARY, BINARY2 into Arrow, for `--table`), the
//! streaming writer (TABLEDATA, BINARY2), and the datatype table both use.

pub mod datatype;
pub mod read;
pub mod write;

pub use datatype::Datatype;
pub use read::{VotableTable, read_votable};
