//! Text catalogues as they come (`--table`): compressed or not (gzip, bzip2, zstd, known by
//! their content; expanded as a stream up to [`MAX_TEXT_BYTES`]),
//! comment lines (`#`), tab-, comma- or whitespace-separated columns, with or without a
//! header row. The header may be the last comment line (`# ID<TAB>Field<TAB>...`, as the
//! OGLE catalogue queries write it) or the first line; without one the columns are
//! `col1`, `col2`, ... Column types are inferred (integer, real, else text); empty cells
//! are null. A line with another number of fields than the header, or with a word in a
//! column of numbers, is a bad line (`text_lines`): the error that names it, or left out
//! and reported with its line number (`--bad-lines skip`).
//!
//! The file is read whole: these are the catalogues a user joins with the survey (10^5 to
//! 10^6 rows), not the survey itself, which `skyql ingest` writes as Parquet.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Field, Schema};

use super::text_lines::{self, BadLines, split_quoted};

/// A table read from a text file, and the lines that could not be read.
#[derive(Debug)]
pub struct TextTable {
    /// The rows.
    pub batch: RecordBatch,
    /// Lines left out (`--bad-lines skip`), each with its file, number and fault.
    pub rejected_lines: Vec<String>,
}

/// How the columns of a line are separated.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Separator {
    Tab,
    Comma,
    Whitespace,
}

impl Separator {
    fn split(self, line: &str) -> Vec<&str> {
        match self {
            Separator::Tab => split_quoted(line, '\t'),
            Separator::Comma => split_quoted(line, ','),
            Separator::Whitespace => line.split_whitespace().collect(),
        }
    }
}

/// The compression a file name says (`.gz`, `.bz2`, `.zst`), and the name without it.
pub fn compression(path: &Path) -> (Option<&'static str>, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    for ext in ["gz", "bz2", "zst"] {
        if let Some(stem) = name.strip_suffix(&format!(".{ext}")) {
            return (Some(ext), stem.to_string());
        }
    }
    (None, name)
}

/// Whether skyql reads `path` with this reader rather than DataFusion's CSV reader (which
/// streams, for big plain `.csv`/`.tsv` files with a header row): compressed text (by its
/// name or its content), `.txt`, `.dat`, `.tbl`, and CSV/TSV files that begin with a
/// comment.
pub fn is_text_catalogue(path: &Path) -> bool {
    let (compressed, name) = compression(path);
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "txt" | "dat" | "tbl" => true,
        "csv" | "tsv" => compressed.is_some() || starts_with_comment_or_is_compressed(path),
        _ => false,
    }
}

fn starts_with_comment_or_is_compressed(path: &Path) -> bool {
    use skyql_udfs::file_content::{compression_of, head, open_regular};
    open_regular(path).is_ok_and(|mut f| {
        let head = head(&mut f);
        head.first() == Some(&b'#') || compression_of(&head).is_some()
    })
}

/// The most bytes a text catalogue may hold once decompressed: it is read whole, and a
/// small compressed file can expand to many gigabytes.
pub const MAX_TEXT_BYTES: u64 = 1 << 30;

/// A file's text, decompressed as its content says (gzip, bzip2 or zstd, whatever its
/// name), read as a stream that stops at [`MAX_TEXT_BYTES`].
pub fn read_decompressed(path: &Path) -> Result<String> {
    read_decompressed_within(path, MAX_TEXT_BYTES)
}

/// [`read_decompressed`] with another limit.
pub fn read_decompressed_within(path: &Path, limit: u64) -> Result<String> {
    use skyql_udfs::file_content::{compression_of, head, open_regular};
    let shown = path.display();
    let mut file = open_regular(path).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let kind = compression_of(&head(&mut file)).map(|(name, _)| name);
    std::io::Seek::rewind(&mut file).with_context(|| format!("cannot read {shown}"))?;
    let reader: Box<dyn Read> = match kind {
        None => Box::new(std::io::BufReader::new(file)),
        Some("gzip") => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Some("bzip2") => Box::new(bzip2::read::MultiBzDecoder::new(file)),
        Some("zstd") => Box::new(
            zstd::stream::read::Decoder::new(file)
                .with_context(|| format!("{shown} is not a readable zstd file"))?,
        ),
        Some(other) => bail!(
            "{shown}: {other}-compressed by its content, which skyql does not read: decompress it first"
        ),
    };
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| match kind {
            Some(k) => format!("{shown} is not a readable {k} file"),
            None => format!("cannot read {shown}"),
        })?;
    if bytes.len() as u64 > limit {
        let what = kind.map_or("holds".to_string(), |k| format!("({k}) expands to"));
        bail!(
            "{shown} {what} more than {} MiB of text, the most a text catalogue may hold (it is read whole): convert it to Parquet, or to CSV with a header row, which is streamed",
            limit >> 20
        );
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads a text catalogue; a bad line is an error or left out, as `bad_lines` says.
pub fn read_text(path: &Path, bad_lines: BadLines) -> Result<TextTable> {
    let text = read_decompressed(path)?;
    let (_, name) = compression(path);
    let mut last_comment = None;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    while let Some((_, l)) = lines.next_if(|(_, l)| l.trim_start().starts_with('#')) {
        last_comment = Some(l.trim_start().trim_start_matches('#').trim());
    }
    let Some(&(_, first)) = lines.peek() else {
        bail!("{} holds no data line", path.display());
    };
    let separator = if first.contains('\t') {
        Separator::Tab
    } else if first.contains(',') && !name.ends_with(".dat") {
        Separator::Comma
    } else {
        Separator::Whitespace
    };
    let width = separator.split(first).len();
    let names = header(separator, last_comment, first, width);
    if names.from_first_line {
        lines.next();
    }
    let rows: Vec<(usize, Vec<&str>)> = lines
        .filter(|(_, line)| !line.trim_start().starts_with('#'))
        .map(|(number, line)| (number + 1, separator.split(line)))
        .collect();
    let bad = text_lines::bad_lines(&names.names, &rows);
    if let (BadLines::Error, Some(first)) = (bad_lines, bad.first()) {
        bail!(
            "{}: {first} ({} bad line(s) in the file); {}",
            path.display(),
            bad.len(),
            text_lines::BAD_LINES_HINT
        );
    }
    let left_out: std::collections::HashSet<usize> = bad.iter().map(|b| b.line).collect();
    let rejected: Vec<String> = bad
        .iter()
        .map(|b| format!("{}: {b}", path.display()))
        .collect();
    let mut cells: Vec<Vec<&str>> = vec![Vec::new(); width];
    for (_, fields) in rows.iter().filter(|(n, _)| !left_out.contains(n)) {
        for (column, value) in cells.iter_mut().zip(fields) {
            column.push(value);
        }
    }
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = names
        .names
        .into_iter()
        .zip(&cells)
        .map(|(name, values)| {
            let array = typed_column(values);
            (Field::new(name, array.data_type().clone(), true), array)
        })
        .unzip();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
    Ok(TextTable {
        batch,
        rejected_lines: rejected,
    })
}

struct Header {
    names: Vec<String>,
    from_first_line: bool,
}

/// Column names: the last comment line if it has one name per column, else the first line
/// if none of its fields is a number, else `col1`, `col2`, ... Repeated names get `_2`.
fn header(separator: Separator, comment: Option<&str>, first: &str, width: usize) -> Header {
    let from_comment = comment
        .map(|c| separator.split(c))
        .filter(|n| n.len() == width && n.iter().all(|f| is_name(f)));
    let from_line = separator.split(first);
    let first_is_header = from_comment.is_none() && from_line.iter().all(|f| is_name(f));
    let raw: Vec<String> = match (from_comment, first_is_header) {
        (Some(n), _) => n.iter().map(|s| s.to_string()).collect(),
        (None, true) => from_line.iter().map(|s| s.to_string()).collect(),
        (None, false) => (1..=width).map(|i| format!("col{i}")).collect(),
    };
    let mut seen = std::collections::HashMap::new();
    let names = raw
        .into_iter()
        .map(|n| {
            let count = seen.entry(n.clone()).or_insert(0);
            *count += 1;
            if *count > 1 {
                format!("{n}_{count}")
            } else {
                n
            }
        })
        .collect();
    Header {
        names,
        from_first_line: first_is_header,
    }
}

fn is_name(field: &str) -> bool {
    !field.is_empty() && field.parse::<f64>().is_err()
}

/// Integers if every non-empty cell is one, else reals if every one is, else text.
fn typed_column(values: &[&str]) -> ArrayRef {
    let cells: Vec<Option<&str>> = values
        .iter()
        .map(|v| (!v.is_empty()).then_some(*v))
        .collect();
    let (ints, bad) = parse_cells::<i64, Int64Array>(&cells);
    if bad.is_empty() {
        return Arc::new(ints);
    }
    let (reals, bad) = parse_cells::<f64, Float64Array>(&cells);
    if bad.is_empty() {
        return Arc::new(reals);
    }
    Arc::new(cells.into_iter().collect::<StringArray>())
}

/// Text cells (`None` is null) parsed as `T`, and the (1-based position, text) of the
/// cells that do not parse, which are null in the array.
pub(super) fn parse_cells<T: std::str::FromStr, A: FromIterator<Option<T>>>(
    cells: &[Option<&str>],
) -> (A, Vec<(usize, String)>) {
    let mut bad = Vec::new();
    let array = cells
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let text = (*cell)?;
            let value = text.parse().ok();
            if value.is_none() {
                bad.push((i + 1, text.to_string()));
            }
            value
        })
        .collect();
    (array, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_stops_at_the_limit_whatever_the_name() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![b'1'; 1 << 20]).unwrap();
        let path = dir.path().join("plain.txt");
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let err = read_decompressed_within(&path, 1000)
            .unwrap_err()
            .to_string();
        assert!(err.contains("(gzip) expands to more than"), "{err}");
        assert_eq!(
            read_decompressed_within(&path, 2 << 20).unwrap().len(),
            1 << 20
        );
    }
}
