//! CDS/VizieR catalogues: a `ReadMe` whose byte-by-byte descriptions give, for each
//! fixed-width data file (possibly gzipped), the columns' bytes, format, unit, label,
//! explanation and null value (`?=-9.9`; a bare `?` makes a blank field null). Read by
//! `--table NAME=DIR/table1.dat` when a `ReadMe` lies beside the file (or
//! `--table NAME=DIR/ReadMe#table1.dat`); units and descriptions reach the exports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::text::parse_cells;
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

/// One column of a byte-by-byte description.
#[derive(Debug, Clone, PartialEq)]
pub struct CdsColumn {
    /// First byte, 1-based.
    pub first: usize,
    /// Last byte, inclusive.
    pub last: usize,
    /// Format: A (text), I (integer), F or E (real).
    pub format: char,
    /// Unit (`None` for `---`).
    pub unit: Option<String>,
    /// Label (the column name).
    pub label: String,
    /// Explanation, without its null marker.
    pub description: String,
    /// The text that stands for null (`?=-9.9`), or `Some("")` for a bare `?`.
    pub null: Option<String>,
}

/// A table read from a CDS catalogue, and the cells that could not be read.
#[derive(Debug)]
pub struct CdsTable {
    /// The rows.
    pub batch: RecordBatch,
    /// Cells not read as their format says (null in the table), with line and column.
    pub rejected_cells: Vec<String>,
    /// The number of records the ReadMe's file summary lists for this file, if it does.
    pub listed_records: Option<usize>,
}

/// The ReadMe and data file for `path`: `DIR/ReadMe#FILE` or a data file with a `ReadMe`
/// beside it.
pub fn locate(path: &Path) -> Option<(PathBuf, PathBuf)> {
    let text = path.to_string_lossy();
    if let Some((readme, file)) = text.split_once('#') {
        let readme = PathBuf::from(readme);
        let dir = readme.parent()?.to_path_buf();
        return Some((readme, dir.join(file)));
    }
    let readme = path.parent()?.join("ReadMe");
    readme.is_file().then(|| (readme, path.to_path_buf()))
}

/// The name of a data file as the ReadMe lists it (`table5.dat` for `table5.dat.gz`,
/// `.bz2` or `.zst`).
fn listed_name(data: &Path) -> String {
    super::text::compression(data).1
}

/// The record count the ReadMe's file summary gives `file` (`table5.dat  56  5265  ...`).
fn listed_records(readme: &str, file: &str) -> Option<usize> {
    readme.lines().find_map(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        (words.len() >= 3 && words[0] == file)
            .then(|| words[2].parse().ok())
            .flatten()
    })
}

/// The explanation the ReadMe's file summary gives `file` (`table1.dat  103  15
/// Observing logs ...`), with the catalogue's title line before it.
fn listed_explanation(readme: &str, file: &str) -> Option<String> {
    let explanation = readme.lines().find_map(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        (words.len() >= 4 && words[0] == file).then(|| words[3..].join(" "))
    })?;
    let title = readme
        .lines()
        .next()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "));
    Some(match title {
        Some(t) if !t.is_empty() => format!("{explanation} ({t})"),
        _ => explanation,
    })
}

/// Parses the byte-by-byte description of `file` in a ReadMe.
pub fn describe(readme: &str, file: &str) -> Result<Vec<CdsColumn>> {
    let mut lines = readme.lines().enumerate();
    lines
        .by_ref()
        .find(|(_, l)| {
            l.starts_with("Byte-by-byte Description of file")
                && l.split(':')
                    .nth(1)
                    .is_some_and(|names| names.split([' ', ',']).any(|n| n.trim() == file))
        })
        .with_context(|| format!("the ReadMe has no byte-by-byte description of {file}"))?;
    let mut dashes = 0;
    let mut columns: Vec<CdsColumn> = Vec::new();
    for (number, line) in lines {
        if line.starts_with("----") {
            dashes += 1;
            if dashes == 3 {
                break;
            }
            continue;
        }
        if dashes < 2 {
            continue;
        }
        match parse_column(line) {
            Some(c) => columns.push(c),
            None if looks_like_a_column(line) => bail!(
                "line {}: cannot read the byte-by-byte description '{}' (bytes first-last from 1, format A, I, F or E, units, label)",
                number + 1,
                line.trim()
            ),
            // A continued explanation.
            None if !line.trim().is_empty() => {
                if let Some(c) = columns.last_mut() {
                    c.description.push(' ');
                    c.description.push_str(line.trim());
                }
            }
            None => {}
        }
    }
    if columns.is_empty() {
        bail!("the byte-by-byte description of {file} lists no column");
    }
    Ok(columns)
}

/// A line that starts (within the byte columns) with a byte number: a column line, not a
/// continued explanation (those are indented under the explanation column).
fn looks_like_a_column(line: &str) -> bool {
    let text = line.trim_start();
    line.len() - text.len() < 8 && text.starts_with(|c: char| c.is_ascii_digit())
}

fn parse_column(line: &str) -> Option<CdsColumn> {
    let mut words = line.split_whitespace().peekable();
    let first_word = words.next()?;
    let (first, last) = match first_word.split_once('-') {
        Some((a, "")) => (a.parse().ok()?, words.next()?.parse().ok()?),
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let n: usize = first_word.parse().ok()?;
            (n, n)
        }
    };
    if first == 0 || last < first {
        return None;
    }
    let format = words.next()?.chars().next()?.to_ascii_uppercase();
    if !matches!(format, 'A' | 'I' | 'F' | 'E') {
        return None;
    }
    let unit = words.next()?;
    let label = words.next()?.to_string();
    let rest: Vec<&str> = words.collect();
    let mut description = rest.join(" ");
    let mut null = None;
    if let Some(marked) = description.strip_prefix('?') {
        let (marker, text) = match marked.strip_prefix('=') {
            Some(m) => m.split_once(' ').unwrap_or((m, "")),
            None => ("", marked),
        };
        null = Some(marker.to_string());
        description = text.trim().to_string();
    }
    Some(CdsColumn {
        first,
        last,
        format,
        unit: (unit != "---").then(|| unit.to_string()),
        label,
        description,
        null,
    })
}

/// Reads a CDS table: the data file's lines cut at the described bytes.
pub fn read_cds(readme: &Path, data: &Path) -> Result<CdsTable> {
    let text = std::fs::read_to_string(readme)
        .with_context(|| format!("cannot read {}", readme.display()))?;
    let listed = listed_name(data);
    let columns = describe(&text, &listed).with_context(|| format!("{}", readme.display()))?;
    let content = super::text::read_decompressed(data)?;
    let mut cells: Vec<Vec<Option<String>>> = vec![Vec::new(); columns.len()];
    for line in content.lines().filter(|l| !l.trim().is_empty()) {
        for (k, c) in columns.iter().enumerate() {
            let raw = line
                .get(c.first - 1..c.last.min(line.len()))
                .unwrap_or("")
                .trim();
            let is_null =
                raw.is_empty() || c.null.as_deref().is_some_and(|n| is_null_marker(n, raw));
            cells[k].push((!is_null).then(|| raw.to_string()));
        }
    }
    let mut rejected = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (c, values) in columns.iter().zip(cells) {
        let n = seen.entry(c.label.clone()).or_insert(0);
        *n += 1;
        let name = if *n > 1 {
            format!("{}_{n}", c.label)
        } else {
            c.label.clone()
        };
        let (array, bad) = typed_array(c, &values);
        for (line, value) in bad {
            rejected.push(format!(
                "{}: line {line}, column {name}: '{value}' is not a {} value",
                data.display(),
                c.format
            ));
        }
        let mut md = HashMap::new();
        if let Some(u) = &c.unit {
            md.insert("unit".to_string(), u.clone());
        }
        md.insert("description".to_string(), c.description.clone());
        fields.push(Field::new(name, array.data_type().clone(), true).with_metadata(md));
        arrays.push(array);
    }
    let metadata = listed_explanation(&text, &listed)
        .map(|d| ("description".to_string(), d))
        .into_iter()
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, metadata)),
        arrays,
    )?;
    Ok(CdsTable {
        batch,
        rejected_cells: rejected,
        listed_records: listed_records(&text, &listed),
    })
}

/// Whether a cell stands for null: the marker itself, or, for a dash marker (`?=-`),
/// any run of dashes (VizieR pads the dash to the field's width: `--`, `---`).
fn is_null_marker(marker: &str, raw: &str) -> bool {
    let dashes = |t: &str| !t.is_empty() && t.chars().all(|ch| ch == '-');
    marker == raw || (dashes(marker) && dashes(raw))
}

/// An array of the column's type, and the (line, text) of cells that did not parse.
fn typed_array(c: &CdsColumn, values: &[Option<String>]) -> (ArrayRef, Vec<(usize, String)>) {
    let cells: Vec<Option<&str>> = values.iter().map(Option::as_deref).collect();
    match c.format {
        'I' => {
            let (a, bad) = parse_cells::<i64, Int64Array>(&cells);
            (Arc::new(a), bad)
        }
        'F' | 'E' => {
            let (a, bad) = parse_cells::<f64, Float64Array>(&cells);
            (Arc::new(a), bad)
        }
        _ => (
            Arc::new(cells.into_iter().collect::<StringArray>()),
            Vec::new(),
        ),
    }
}

/// The data type a CDS format gives.
pub fn data_type(format: char) -> DataType {
    match format {
        'I' => DataType::Int64,
        'F' | 'E' => DataType::Float64,
        _ => DataType::Utf8,
    }
}
