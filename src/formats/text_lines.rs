//! The lines of a text table (CSV, TSV, text catalogues) checked one by one: fields split
//! as the format writes them (double quotes around a field that holds the separator),
//! the number of fields against the header, and each cell of a numeric column read as a
//! number. What `--bad-lines` decides on (`error`: the first bad line is the error;
//! `skip`: bad lines are left out and counted) and what names the line when a query's
//! CSV reader fails.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, Result};
use datafusion::arrow::datatypes::{DataType, Schema};

/// What to do with a line that cannot be read as its table says (`--bad-lines`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BadLines {
    /// The first bad line stops the query, named with its file, line and reason.
    #[default]
    Error,
    /// Bad lines are left out; their count and the first ones are said on standard error.
    Skip,
}

/// What an error about a bad line tells the user to do.
pub const BAD_LINES_HINT: &str =
    "correct the file, or give --bad-lines skip to leave such lines out";

/// Why a line is bad.
#[derive(Debug, Clone, PartialEq)]
pub enum LineFault {
    /// Another number of fields than the header.
    FieldCount { found: usize, expected: usize },
    /// A cell of a numeric column that is not a number.
    NotANumber { column: String, value: String },
}

/// A bad line: its number in the file (1 = the first line) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    pub line: usize,
    pub fault: LineFault,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fault {
            LineFault::FieldCount { found, expected } => write!(
                f,
                "line {} has {found} fields where the header has {expected}",
                self.line
            ),
            LineFault::NotANumber { column, value } => write!(
                f,
                "line {}: '{}' in column {column} is not a number",
                self.line,
                crate::terminal_text::escaped_controls(value)
            ),
        }
    }
}

/// The fields of a line separated by `separator`; a field in double quotes may hold the
/// separator (the quotes are taken off, a doubled quote inside kept as written).
pub fn split_quoted(line: &str, separator: char) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            fields.push(unquote(&line[start..i]));
            start = i + c.len_utf8();
        }
    }
    fields.push(unquote(&line[start..]));
    fields
}

fn unquote(field: &str) -> &str {
    let t = field.trim();
    t.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(t)
}

/// Whether a cell reads as a number (empty cells are nulls, not faults).
pub fn is_number(cell: &str) -> bool {
    cell.is_empty() || cell.parse::<f64>().is_ok()
}

/// Whether a column whose non-empty cells hold `distinct_numbers` different numbers and
/// `others` cells that are not numbers is a column of numbers with faulty cells rather
/// than a text column: at least 20 different numbers for each cell that is not one.
/// Different numbers, not cells: a text column whose missing values are a number
/// (OGLE's `-99.99` in an identifier column) stays text.
pub fn looks_numeric(distinct_numbers: usize, others: usize) -> bool {
    others > 0 && distinct_numbers >= 20 * others
}

/// The first line of a CSV or TSV file (header first) that another number of fields
/// than the header or a cell of a numeric column of `schema` that is not a number makes
/// unreadable; None when every line reads. Read a line at a time.
pub fn first_bad_csv_line(
    path: &Path,
    separator: char,
    schema: &Schema,
) -> Result<Option<BadLine>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let numeric: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric() || f.data_type() == &DataType::Boolean)
        .collect();
    let mut buffer = Vec::new();
    let mut number = 0;
    let mut width = None;
    loop {
        buffer.clear();
        if reader.read_until(b'\n', &mut buffer)? == 0 {
            return Ok(None);
        }
        number += 1;
        let text = String::from_utf8_lossy(&buffer);
        let line = text.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        let fields = split_quoted(line, separator);
        let Some(expected) = width else {
            width = Some(fields.len());
            continue;
        };
        if fields.len() != expected {
            return Ok(Some(BadLine {
                line: number,
                fault: LineFault::FieldCount {
                    found: fields.len(),
                    expected,
                },
            }));
        }
        for ((cell, is_numeric), field) in fields.iter().zip(&numeric).zip(schema.fields()) {
            if *is_numeric && !is_number(cell) && !is_boolean(cell, field.data_type()) {
                return Ok(Some(BadLine {
                    line: number,
                    fault: LineFault::NotANumber {
                        column: field.name().clone(),
                        value: cell.to_string(),
                    },
                }));
            }
        }
    }
}

fn is_boolean(cell: &str, data_type: &DataType) -> bool {
    data_type == &DataType::Boolean
        && matches!(cell.to_ascii_lowercase().as_str(), "true" | "false")
}

/// The bad lines among the first `sample` data lines of a CSV or TSV file: those with
/// another number of fields than the header, and those with a cell that is not a number
/// in a column whose other cells are (which a reader inferring types from these lines
/// would read as text). Lines are numbered in the file, header first.
pub fn bad_lines_in_sample(path: &Path, separator: char, sample: usize) -> Result<Vec<BadLine>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut lines = Vec::new();
    let mut names: Option<Vec<String>> = None;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            // Not UTF-8: the reader's own message says it.
            Err(_) => break,
        };
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<String> = split_quoted(&line, separator)
            .into_iter()
            .map(str::to_string)
            .collect();
        match &names {
            None => names = Some(fields),
            Some(_) => lines.push((i + 1, fields)),
        }
        if lines.len() >= sample {
            break;
        }
    }
    let Some(names) = names else {
        return Ok(Vec::new());
    };
    Ok(bad_lines(&names, &lines))
}

/// The bad lines of `lines` (number, fields) under the header `names`: another number of
/// fields, or a cell that is not a number in a column that [`looks_numeric`].
pub fn bad_lines<S: AsRef<str>>(names: &[String], lines: &[(usize, Vec<S>)]) -> Vec<BadLine> {
    let width = names.len();
    let mut faults = Vec::new();
    let whole: Vec<&(usize, Vec<S>)> = lines
        .iter()
        .filter(|(number, fields)| {
            if fields.len() == width {
                return true;
            }
            faults.push(BadLine {
                line: *number,
                fault: LineFault::FieldCount {
                    found: fields.len(),
                    expected: width,
                },
            });
            false
        })
        .collect();
    for (column, name) in names.iter().enumerate() {
        // One pass over the column: its different numbers, and the cells that are not.
        let mut numbers = std::collections::HashSet::new();
        let mut others = Vec::new();
        for (line, fields) in &whole {
            let cell = fields[column].as_ref();
            if !is_number(cell) {
                others.push((*line, cell));
            } else if !cell.is_empty() {
                numbers.insert(cell);
            }
        }
        if looks_numeric(numbers.len(), others.len()) {
            faults.extend(others.into_iter().map(|(line, value)| BadLine {
                line,
                fault: LineFault::NotANumber {
                    column: name.clone(),
                    value: value.to_string(),
                },
            }));
        }
    }
    faults.sort_by_key(|b| b.line);
    faults
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_their_separators() {
        assert_eq!(
            split_quoted(r#"1,"Smith, J",3"#, ','),
            ["1", "Smith, J", "3"]
        );
        assert_eq!(split_quoted("a\tb", '\t'), ["a", "b"]);
    }

    #[test]
    fn a_word_in_a_numeric_column_is_a_bad_line_and_a_text_column_is_not() {
        let names = vec!["id".to_string(), "mag".to_string()];
        let mut lines: Vec<(usize, Vec<String>)> = (0..40)
            .map(|i| (i + 2, vec![format!("s{i}"), format!("{}.5", 15 + i)]))
            .collect();
        lines[30].1[1] = "abc".into();
        lines[7].1.pop();
        let bad = bad_lines(&names, &lines);
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert_eq!(
            bad[0].to_string(),
            "line 9 has 1 fields where the header has 2"
        );
        assert_eq!(
            bad[1].to_string(),
            "line 32: 'abc' in column mag is not a number"
        );
        // One number repeated (a missing-value marker) among words: a text column.
        let ids: Vec<(usize, Vec<String>)> = (0..40)
            .map(|i| {
                let id = if i % 10 == 0 {
                    format!("LMC_{i}")
                } else {
                    "-99.99".into()
                };
                (i + 2, vec![format!("s{i}"), id])
            })
            .collect();
        assert!(bad_lines(&names, &ids).is_empty());
    }
}
