//! Text catalogues as they come (`--table`): compressed or not (`.gz`, `.bz2`, `.zst`),
//! comment lines (`#`), tab-, comma- or whitespace-separated columns, with or without a
//! header row. The header may be the last comment line (`# ID<TAB>Field<TAB>...`, as the
//! OGLE catalogue queries write it) or the first line; without one the columns are
//! `col1`, `col2`, ... Column types are inferred (integer, real, else text); empty cells
//! are null. A line with another number of fields than the header is not dropped: it is
//! reported with its line number.
//!
//! The file is read whole: these are the catalogues a user joins with the survey (10^5 to
//! 10^6 rows), not the survey itself, which `skyql ingest` writes as Parquet.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Field, Schema};

/// A table read from a text file, and the lines that could not be read.
#[derive(Debug)]
pub struct TextTable {
    /// The rows.
    pub batch: RecordBatch,
    /// Lines not read (another number of fields than the header), with their number.
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
            Separator::Tab => line.split('\t').map(str::trim).collect(),
            Separator::Comma => line.split(',').map(str::trim).collect(),
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
/// streams, for big plain `.csv`/`.tsv` files with a header row): compressed text, `.txt`,
/// `.dat`, `.tbl`, and CSV/TSV files that begin with a comment.
pub fn is_text_catalogue(path: &Path) -> bool {
    let (compressed, name) = compression(path);
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "txt" | "dat" | "tbl" => true,
        "csv" | "tsv" => compressed.is_some() || starts_with_comment(path),
        _ => false,
    }
}

fn starts_with_comment(path: &Path) -> bool {
    let mut first = [0u8; 1];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut first))
        .is_ok_and(|_| first[0] == b'#')
}

/// A file's text, decompressed as its name says.
pub fn read_decompressed(path: &Path) -> Result<String> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    let (read, kind) = match compression(path).0 {
        Some("gz") => (
            flate2::read::MultiGzDecoder::new(file).read_to_end(&mut bytes),
            "gzip",
        ),
        Some("bz2") => (
            bzip2::read::MultiBzDecoder::new(file).read_to_end(&mut bytes),
            "bzip2",
        ),
        Some(_) => (
            zstd::stream::read::Decoder::new(file).and_then(|mut d| d.read_to_end(&mut bytes)),
            "zstd",
        ),
        None => {
            let read = std::io::BufReader::new(file).read_to_end(&mut bytes);
            read.with_context(|| format!("cannot read {}", path.display()))?;
            return Ok(String::from_utf8_lossy(&bytes).into_owned());
        }
    };
    read.with_context(|| format!("{} is not a readable {kind} file", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads a text catalogue.
pub fn read_text(path: &Path) -> Result<TextTable> {
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
    let mut cells: Vec<Vec<&str>> = vec![Vec::new(); width];
    let mut rejected = Vec::new();
    for (number, line) in lines {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let fields = separator.split(line);
        if fields.len() != width {
            rejected.push(format!(
                "{}: line {}: {} fields where the header has {width}",
                path.display(),
                number + 1,
                fields.len()
            ));
            continue;
        }
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
