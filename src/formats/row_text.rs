//! Text formats whose rows stand alone (CSV, VOTable TABLEDATA): the bytes of a batch's
//! rows depend on nothing but the batch and the format's settings, so batches can be
//! turned into text on several threads and written in the order they came
//! (`crate::export::parallel_rows`).

use datafusion::arrow::array::ArrayRef;

/// Turns the rows of a batch of normalized columns (see `columns.rs`) into text.
pub trait RowText: Send + Sync {
    /// Appends the text of every row of `arrays` to `out`.
    fn append_rows(&self, arrays: &[ArrayRef], out: &mut Vec<u8>);
}
