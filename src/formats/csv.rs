//! RFC 4180 CSV: a header row, CRLF line ends (or LF, the default on standard output for
//! shell pipelines), fields quoted when they hold the delimiter, a quote, CR or LF
//! (quotes doubled). Null and NaN are empty cells; array values are space-separated
//! numbers.

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use datafusion::arrow::array::ArrayRef;

use super::columns::{ExportColumn, int_null_texts};
use super::row_text::RowText;
use super::typed::{CSV_STYLE, Typed};

/// Streams CSV rows batch by batch.
pub struct CsvWriter<W: Write> {
    out: W,
    rows: Arc<CsvRows>,
    buf: Vec<u8>,
}

/// The text of CSV rows: the delimiter, the line end and the integer-array nulls.
pub struct CsvRows {
    delimiter: u8,
    line_end: &'static [u8],
    int_nulls: Vec<String>,
}

impl RowText for CsvRows {
    fn append_rows(&self, arrays: &[ArrayRef], out: &mut Vec<u8>) {
        let (typed, rows) = Typed::columns(arrays);
        for row in 0..rows {
            for (i, column) in typed.iter().enumerate() {
                if i > 0 {
                    out.push(self.delimiter);
                }
                if column.is_null(row) {
                    continue;
                }
                match column.text(row) {
                    Some(s) => write_field(s, self.delimiter, out),
                    None => column.write_number(row, &CSV_STYLE, &self.int_nulls[i], out),
                }
            }
            out.extend_from_slice(self.line_end);
        }
    }
}

impl<W: Write> CsvWriter<W> {
    /// Writes the header row; lines end with CRLF (`crlf`) or LF.
    pub fn new(mut out: W, columns: &[ExportColumn], delimiter: u8, crlf: bool) -> Result<Self> {
        let line_end: &'static [u8] = if crlf { b"\r\n" } else { b"\n" };
        let mut buf = Vec::new();
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                buf.push(delimiter);
            }
            write_field(&c.name, delimiter, &mut buf);
        }
        buf.extend_from_slice(line_end);
        out.write_all(&buf)?;
        buf.clear();
        Ok(CsvWriter {
            out,
            rows: Arc::new(CsvRows {
                delimiter,
                line_end,
                int_nulls: int_null_texts(columns),
            }),
            buf,
        })
    }

    /// Writes the rows of one batch of normalized columns.
    pub fn write(&mut self, arrays: &[ArrayRef]) -> Result<()> {
        self.rows.append_rows(arrays, &mut self.buf);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// The text of this writer's rows, to encode batches elsewhere.
    pub fn row_text(&self) -> Arc<CsvRows> {
        self.rows.clone()
    }

    /// Writes rows already encoded by [`Self::row_text`].
    pub fn write_encoded(&mut self, rows: &[u8]) -> Result<()> {
        self.out.write_all(rows)?;
        Ok(())
    }

    /// Returns the underlying writer.
    pub fn finish(self) -> W {
        self.out
    }
}

/// Appends one text field, quoted when RFC 4180 requires it.
pub fn write_field(text: &str, delimiter: u8, out: &mut Vec<u8>) {
    let needs_quotes = text
        .bytes()
        .any(|b| b == delimiter || b == b'"' || b == b'\r' || b == b'\n');
    if text.is_empty() {
        // An empty string, told apart from a null (an empty cell).
        out.extend_from_slice(b"\"\"");
        return;
    }
    if !needs_quotes {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    out.push(b'"');
    for b in text.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        let mut out = Vec::new();
        write_field("plain", b',', &mut out);
        out.push(b'|');
        write_field("a,b", b',', &mut out);
        out.push(b'|');
        write_field("say \"hi\"\n", b';', &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plain|\"a,b\"|\"say \"\"hi\"\"\n\""
        );
    }
}
