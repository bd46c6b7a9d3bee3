//! Reading VOTables (1.1 to 1.5) into Arrow: TABLEDATA, BINARY and BINARY2.
//!
//! Used by `--table NAME=file.vot`. The first TABLE holding FIELDs and DATA is read (a
//! VizieR or TAP result has one). FIELD metadata (unit, UCD, utype, xtype, DESCRIPTION)
//! goes to the Arrow field metadata, so a re-export carries it. Types: `boolean` and `bit`
//! become Boolean, `unsignedByte`/`short`/`int`/`long` UInt8/Int16/Int32/Int64, `float`
//! and `double` Float32/Float64, `char` and `unicodeChar` Utf8 (whatever their arraysize);
//! numeric arrays (fixed, variable or multidimensional, flattened in FITS order) become
//! lists, complex numbers lists of (real, imaginary) pairs. `VALUES null`, empty cells,
//! BINARY2 null flags and NaN in BINARY floats are nulls. A cell that cannot be read as
//! its declared type becomes null and is reported (row, column, text): nothing is dropped
//! silently.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::formats::datatype::Datatype;
use anyhow::{Context, Result, bail};
use base64::Engine;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    ListArray, StringArray, UInt8Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// A table read from a VOTable, with the cells that could not be read.
#[derive(Debug)]
pub struct VotableTable {
    /// The rows, one batch.
    pub batch: RecordBatch,
    /// One line per cell not read as written: row (1-based), column and reason (cells
    /// that cannot be read as their type are null; over-long strings are kept whole).
    pub rejected_cells: Vec<String>,
}

/// The next `n` bytes of a binary stream at `*pos`, advancing it.
fn take<'d>(data: &'d [u8], pos: &mut usize, n: usize) -> Result<&'d [u8]> {
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= data.len())
        .context("the binary stream ends inside a row")?;
    let slice = &data[*pos..end];
    *pos = end;
    Ok(slice)
}

/// One FIELD.
#[derive(Debug, Clone)]
struct FieldSpec {
    name: String,
    prim: Datatype,
    /// Product of the fixed dimensions (1 when none).
    fixed: usize,
    /// Whether the last dimension is variable (`*`).
    variable: bool,
    /// Whether the field has no arraysize (one element).
    scalar: bool,
    null: Option<String>,
    /// Declared length of a string field (fixed, or the maximum of `N*`).
    max_chars: Option<usize>,
    metadata: HashMap<String, String>,
}

impl FieldSpec {
    fn is_list(&self) -> bool {
        !self.prim.is_text()
            && (!self.scalar
                || matches!(self.prim, Datatype::FloatComplex | Datatype::DoubleComplex))
    }

    fn arrow_field(&self) -> Field {
        let element = self.prim.arrow_type();
        let dt = if self.is_list() {
            DataType::List(Arc::new(Field::new("item", element, true)))
        } else {
            element
        };
        Field::new(&self.name, dt, true).with_metadata(self.metadata.clone())
    }
}

/// Parses an arraysize: (product of the fixed dimensions, whether the last dimension is
/// variable, whether there is no arraysize, the declared maximum of a variable dimension).
fn parse_arraysize(text: Option<&str>) -> Result<(usize, bool, bool, Option<usize>)> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok((1, false, true, None));
    };
    let mut max = None;
    let mut fixed = 1usize;
    let mut variable = false;
    let dims: Vec<&str> = text.split('x').collect();
    for (i, d) in dims.iter().enumerate() {
        if let Some(stripped) = d.strip_suffix('*') {
            if i + 1 != dims.len() {
                bail!("arraysize '{text}': only the last dimension may be variable");
            }
            variable = true;
            max = stripped.parse().ok();
        } else {
            let n: usize = d
                .parse()
                .with_context(|| format!("arraysize '{text}' is not valid"))?;
            fixed = fixed.saturating_mul(n);
        }
    }
    Ok((fixed, variable, false, max))
}

/// Values of one column as they are read.
#[derive(Debug)]
struct ColumnData {
    spec: FieldSpec,
    /// `VALUES null` of an integer field, parsed once.
    null_int: Option<i64>,
    valid: Vec<bool>,
    offsets: Vec<i32>,
    bools: Vec<Option<bool>>,
    ints: Vec<Option<i64>>,
    floats: Vec<Option<f64>>,
    texts: Vec<String>,
}

impl ColumnData {
    fn new(spec: FieldSpec) -> Self {
        ColumnData {
            null_int: spec
                .null
                .as_deref()
                .and_then(|n| parse_integer(n.trim()).ok()),
            spec,
            valid: Vec::new(),
            offsets: vec![0],
            bools: Vec::new(),
            ints: Vec::new(),
            floats: Vec::new(),
            texts: Vec::new(),
        }
    }

    fn element_count(&self) -> usize {
        match self.spec.prim {
            Datatype::Boolean | Datatype::Bit => self.bools.len(),
            p if p.is_integer() => self.ints.len(),
            p if p.is_text() => self.texts.len(),
            _ => self.floats.len(),
        }
    }

    fn end_row(&mut self, valid: bool) {
        if self.spec.prim.is_text() && self.texts.len() < self.valid.len() + 1 {
            self.texts.push(String::new());
        } else if !self.spec.is_list() && self.element_count() < self.valid.len() + 1 {
            self.push_null_element();
        }
        self.valid.push(valid);
        self.offsets.push(self.element_count() as i32);
    }

    fn push_null_element(&mut self) {
        match self.spec.prim {
            Datatype::Boolean | Datatype::Bit => self.bools.push(None),
            p if p.is_integer() => self.ints.push(None),
            p if p.is_text() => self.texts.push(String::new()),
            _ => self.floats.push(None),
        }
    }

    /// Adds one TABLEDATA cell; returns a reason when it cannot be read (the cell is then
    /// null), or a note when it was read but does not match its declaration.
    fn push_text(&mut self, text: &str) -> Result<Option<String>, String> {
        let is_list = self.spec.is_list();
        if self.spec.prim.is_text() {
            // An empty cell is a null (VOTable 1.3, section 5.1).
            let valid = !text.is_empty() && self.spec.null.as_deref() != Some(text);
            let note = self
                .spec
                .max_chars
                .filter(|&max| text.chars().count() > max)
                .map(|max| format!("longer than its arraysize {max} (kept whole)"));
            self.texts.push(text.to_string());
            self.end_row(valid);
            return Ok(note);
        }
        let trimmed = text.trim();
        if trimmed.is_empty() {
            self.end_row(false);
            return Ok(None);
        }
        let before = self.element_count();
        let tokens = trimmed
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty());
        let mut result = Ok(());
        let mut all_null = true;
        if !is_list && trimmed.split_whitespace().nth(1).is_some() {
            result = Err(format!("'{trimmed}' is not one value"));
        }
        for token in tokens {
            if result.is_err() {
                break;
            }
            match self.parse_element(token) {
                Ok(is_null) => all_null &= is_null,
                Err(e) => result = Err(e),
            }
        }
        if result.is_err() {
            self.truncate_elements(before);
            self.end_row(false);
            return result.map(|()| None);
        }
        let scalar_null = !is_list && all_null;
        self.end_row(!scalar_null);
        Ok(None)
    }

    fn truncate_elements(&mut self, n: usize) {
        self.bools.truncate(n.min(self.bools.len()));
        self.ints.truncate(n.min(self.ints.len()));
        self.floats.truncate(n.min(self.floats.len()));
    }

    /// Parses one element; returns whether it is null.
    fn parse_element(&mut self, token: &str) -> Result<bool, String> {
        // An integer array keeps its null sentinel as a value (declared again on export).
        let keeps_sentinel = self.spec.is_list() && self.spec.prim.is_integer();
        if !keeps_sentinel && self.spec.null.as_deref() == Some(token) {
            self.push_null_element();
            return Ok(true);
        }
        match self.spec.prim {
            Datatype::Boolean | Datatype::Bit => {
                let v = match token.to_ascii_lowercase().as_str() {
                    "t" | "true" | "1" => Some(true),
                    "f" | "false" | "0" => Some(false),
                    "?" => None,
                    _ => return Err(format!("'{token}' is not a boolean")),
                };
                self.bools.push(v);
                Ok(v.is_none())
            }
            p if p.is_integer() => {
                let v = parse_integer(token)?;
                let (lo, hi) = match p {
                    Datatype::UInt8 => (0, 255),
                    Datatype::Int16 => (i16::MIN as i64, i16::MAX as i64),
                    Datatype::Int32 => (i32::MIN as i64, i32::MAX as i64),
                    _ => (i64::MIN, i64::MAX),
                };
                if v < lo || v > hi {
                    return Err(format!("{v} is outside the range of {p:?}"));
                }
                self.ints.push(Some(v));
                Ok(false)
            }
            _ => {
                let v: f64 = parse_float(token)?;
                self.floats.push(Some(v));
                Ok(false)
            }
        }
    }

    /// Reads one cell of a BINARY or BINARY2 stream at `pos`; returns the new position.
    fn push_binary(&mut self, data: &[u8], mut pos: usize, null_flag: bool) -> Result<usize> {
        // Copies of the field's scalars: this runs once per cell.
        let (prim, fixed, variable) = (self.spec.prim, self.spec.fixed, self.spec.variable);
        let count = if variable {
            let b = take(data, &mut pos, 4)?;
            let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
            n.checked_mul(fixed).context("array length overflows")?
        } else {
            fixed
        };
        if prim == Datatype::Bit {
            let bytes = take(data, &mut pos, count.div_ceil(8))?;
            for i in 0..count {
                self.bools.push(Some(bytes[i / 8] & (0x80 >> (i % 8)) != 0));
            }
            self.end_row(!null_flag);
            return Ok(pos);
        }
        let size = count
            .checked_mul(prim.size())
            .context("array length overflows")?;
        let bytes = take(data, &mut pos, size)?;
        if prim.is_text() {
            self.push_binary_text(bytes, null_flag);
        } else {
            let all_null = self.push_binary_numbers(bytes);
            let null = null_flag || (!self.spec.is_list() && all_null);
            self.end_row(!null);
        }
        Ok(pos)
    }

    /// A binary `char` (bytes) or `unicodeChar` (UTF-16BE) cell, cut at its first NUL.
    fn push_binary_text(&mut self, bytes: &[u8], null_flag: bool) {
        let mut text = if self.spec.prim == Datatype::Char {
            String::from_utf8_lossy(bytes).into_owned()
        } else {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        };
        if let Some(end) = text.find('\0') {
            text.truncate(end);
        }
        let is_null = null_flag || self.spec.null.as_deref() == Some(text.as_str());
        self.texts.push(text);
        self.end_row(!is_null);
    }

    /// The big-endian elements of a binary cell; returns whether all of them are null.
    fn push_binary_numbers(&mut self, bytes: &[u8]) -> bool {
        let prim = self.spec.prim;
        let is_list = self.spec.is_list();
        let null_int = self.null_int;
        let per_element = if matches!(prim, Datatype::FloatComplex | Datatype::DoubleComplex) {
            2
        } else {
            1
        };
        let width = prim.size() / per_element;
        let mut all_null = true;
        for chunk in bytes.chunks_exact(width) {
            match prim {
                Datatype::Boolean => {
                    let v = match chunk[0] {
                        b'T' | b't' | b'1' => Some(true),
                        b'F' | b'f' | b'0' => Some(false),
                        _ => None,
                    };
                    all_null &= v.is_none();
                    self.bools.push(v);
                }
                p if p.is_integer() => {
                    let v = match p {
                        Datatype::UInt8 => chunk[0] as i64,
                        Datatype::Int16 => i16::from_be_bytes([chunk[0], chunk[1]]) as i64,
                        Datatype::Int32 => {
                            i32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as i64
                        }
                        _ => i64::from_be_bytes(chunk.try_into().unwrap_or([0; 8])),
                    };
                    let v = (is_list || Some(v) != null_int).then_some(v);
                    all_null &= v.is_none();
                    self.ints.push(v);
                }
                _ => {
                    let v = if width == 4 {
                        f32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as f64
                    } else {
                        f64::from_be_bytes(chunk.try_into().unwrap_or([0; 8]))
                    };
                    all_null &= v.is_nan();
                    self.floats.push(Some(v));
                }
            }
        }
        all_null
    }

    fn finish(self) -> Result<ArrayRef> {
        let spec = &self.spec;
        let nulls = Some(NullBuffer::from(self.valid.clone()));
        let values: ArrayRef = match spec.prim {
            Datatype::Boolean | Datatype::Bit => Arc::new(BooleanArray::from(self.bools)),
            Datatype::UInt8 => Arc::new(UInt8Array::from(
                self.ints
                    .iter()
                    .map(|v| v.map(|x| x as u8))
                    .collect::<Vec<_>>(),
            )),
            Datatype::Int16 => Arc::new(Int16Array::from(
                self.ints
                    .iter()
                    .map(|v| v.map(|x| x as i16))
                    .collect::<Vec<_>>(),
            )),
            Datatype::Int32 => Arc::new(Int32Array::from(
                self.ints
                    .iter()
                    .map(|v| v.map(|x| x as i32))
                    .collect::<Vec<_>>(),
            )),
            Datatype::Int64 => Arc::new(Int64Array::from(self.ints)),
            Datatype::Float32 | Datatype::FloatComplex => Arc::new(Float32Array::from(
                self.floats
                    .iter()
                    .map(|v| v.map(|x| x as f32))
                    .collect::<Vec<_>>(),
            )),
            Datatype::Float64 | Datatype::DoubleComplex => {
                Arc::new(Float64Array::from(self.floats))
            }
            Datatype::Char | Datatype::UnicodeChar => {
                let texts: Vec<Option<&str>> = self
                    .texts
                    .iter()
                    .zip(&self.valid)
                    .map(|(t, v)| v.then_some(t.as_str()))
                    .collect();
                return Ok(Arc::new(StringArray::from(texts)));
            }
        };
        if !spec.is_list() {
            let data = values.to_data().into_builder().nulls(nulls).build()?;
            return Ok(datafusion::arrow::array::make_array(data));
        }
        let item = Arc::new(Field::new("item", values.data_type().clone(), true));
        Ok(Arc::new(ListArray::try_new(
            item,
            OffsetBuffer::new(self.offsets.into()),
            values,
            nulls,
        )?))
    }
}

fn parse_integer(token: &str) -> Result<i64, String> {
    let parsed = if let Some(hex) = token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16).ok()
    } else {
        token.parse::<i64>().ok()
    };
    parsed.ok_or_else(|| format!("'{token}' is not an integer"))
}

fn parse_float(token: &str) -> Result<f64, String> {
    let t = token.trim_start_matches('+');
    match t.to_ascii_lowercase().as_str() {
        "nan" => return Ok(f64::NAN),
        "inf" | "infinity" => {
            return Ok(if token.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        "-inf" | "-infinity" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    t.parse::<f64>()
        .map_err(|_| format!("'{token}' is not a number"))
}

fn attributes(e: &BytesStart) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for a in e.attributes() {
        let a = a?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        out.insert(key, a.unescape_value()?.into_owned());
    }
    Ok(out)
}

#[derive(Debug, PartialEq, Eq)]
enum Encoding {
    TableData,
    Binary,
    Binary2,
}

/// Reads the first table of the VOTable at `path`.
pub fn read_votable(path: &Path) -> Result<VotableTable> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    read_votable_from(std::io::BufReader::new(file), path)
}

/// Reads the first table of a VOTable from `input` (an upload), `path` naming it in
/// messages.
pub fn read_votable_from(input: impl std::io::BufRead, path: &Path) -> Result<VotableTable> {
    let mut reader = Reader::from_reader(input);
    reader.config_mut().trim_text(false);
    let mut buf = Vec::new();
    let mut parser = Parser::new(path);
    while !parser.done {
        let event = reader.read_event_into(&mut buf).with_context(|| {
            format!(
                "{}: XML error near byte {}",
                path.display(),
                reader.buffer_position()
            )
        })?;
        match event {
            Event::Eof => {
                parser.at_end_of_file()?;
                break;
            }
            Event::Start(ref e) => parser.on_start(e, false)?,
            Event::Empty(ref e) => parser.on_start(e, true)?,
            Event::Text(t) => {
                let text = t.unescape().with_context(|| {
                    format!(
                        "{}: bad XML text near byte {}",
                        path.display(),
                        reader.buffer_position()
                    )
                })?;
                parser.on_text(&text, true);
            }
            Event::CData(t) => {
                parser.on_text(&String::from_utf8_lossy(&t.into_inner()), false);
            }
            Event::End(e) => parser.on_end(e.local_name().as_ref())?,
            _ => {}
        }
        buf.clear();
    }
    parser.finish()
}

/// The reader's state between XML events: the FIELDs seen, the one being read, the data
/// encoding once the data begins, the current row and cell, the columns being filled.
struct Parser<'a> {
    path: &'a Path,
    specs: Vec<FieldSpec>,
    columns: Vec<ColumnData>,
    rejected: Vec<String>,
    in_field: Option<FieldSpec>,
    description: Option<String>,
    /// The TABLE's DESCRIPTION, kept as the schema's `description` metadata.
    table_description: Option<String>,
    table_depth: usize,
    done: bool,
    encoding: Option<Encoding>,
    cell: Option<String>,
    row_cells: Vec<String>,
    stream: Option<String>,
    rows: usize,
    /// COOSYS elements by ID: their attributes, given to the FIELDs that refer to them.
    frames: HashMap<String, Vec<(String, String)>>,
}

impl<'a> Parser<'a> {
    fn new(path: &'a Path) -> Self {
        Parser {
            path,
            specs: Vec::new(),
            columns: Vec::new(),
            rejected: Vec::new(),
            in_field: None,
            description: None,
            table_description: None,
            table_depth: 0,
            done: false,
            encoding: None,
            cell: None,
            row_cells: Vec::new(),
            stream: None,
            rows: 0,
            frames: HashMap::new(),
        }
    }

    fn at_end_of_file(&self) -> Result<()> {
        if self.encoding.is_some() {
            bail!(
                "{}: the file ends inside the table data (after {} rows): truncated?",
                self.path.display(),
                self.rows
            );
        }
        Ok(())
    }

    /// A start tag (`empty` for `<X/>`).
    fn on_start(&mut self, e: &BytesStart, empty: bool) -> Result<()> {
        let name = e.local_name();
        let tabledata = self.encoding == Some(Encoding::TableData);
        match name.as_ref() {
            b"TABLE" if !empty => self.table_depth += 1,
            b"FIELD" if self.table_depth > 0 => {
                let spec = self.field_spec(e)?;
                if empty {
                    self.specs.push(spec);
                } else {
                    self.in_field = Some(spec);
                }
            }
            b"VALUES" => self.on_values(e)?,
            b"COOSYS" => {
                let a = attributes(e)?;
                if let Some(id) = a.get("ID") {
                    let kept = crate::formats::columns::COOSYS_ATTRIBUTES
                        .iter()
                        .filter_map(|k| a.get(*k).map(|v| (k.to_string(), v.clone())))
                        .collect();
                    self.frames.insert(id.clone(), kept);
                }
            }
            b"DESCRIPTION" if self.in_field.is_some() && !empty => {
                self.description = Some(String::new());
            }
            // The table's own description (before its data).
            b"DESCRIPTION" if self.table_depth > 0 && self.encoding.is_none() && !empty => {
                self.description = Some(String::new());
            }
            n @ (b"TABLEDATA" | b"BINARY" | b"BINARY2" | b"FITS") if self.table_depth > 0 => {
                self.on_data(n, empty)?;
            }
            b"TR" if tabledata => {
                self.row_cells.clear();
                if empty {
                    self.finish_row();
                }
            }
            b"TD" if tabledata => {
                if empty {
                    self.row_cells.push(String::new());
                } else {
                    self.cell = Some(String::new());
                }
            }
            b"STREAM" if self.encoding.is_some() => {
                if attributes(e)?
                    .get("encoding")
                    .is_some_and(|v| v != "base64")
                {
                    bail!("{}: only base64 STREAMs are supported", self.path.display());
                }
                self.stream = (!empty).then(String::new);
            }
            _ => {}
        }
        Ok(())
    }

    /// Text (`in_stream_too`: CDATA is never part of a STREAM).
    fn on_text(&mut self, text: &str, in_stream_too: bool) {
        if let Some(c) = self.cell.as_mut() {
            c.push_str(text);
        } else if let (Some(s), true) = (self.stream.as_mut(), in_stream_too) {
            s.push_str(text);
        } else if let Some(d) = self.description.as_mut() {
            d.push_str(text);
        }
    }

    fn on_end(&mut self, name: &[u8]) -> Result<()> {
        match name {
            b"FIELD" => {
                if let Some(f) = self.in_field.take() {
                    self.specs.push(f);
                }
            }
            b"DESCRIPTION" => match (self.description.take(), self.in_field.as_mut()) {
                (Some(d), Some(f)) => {
                    f.metadata
                        .insert("description".to_string(), d.trim().to_string());
                }
                (Some(d), None) => self.table_description = Some(d.trim().to_string()),
                _ => {}
            },
            b"TD" => {
                if let Some(c) = self.cell.take() {
                    self.row_cells.push(c);
                }
            }
            b"TR" if self.encoding == Some(Encoding::TableData) => self.finish_row(),
            b"STREAM" => self.on_stream_end()?,
            b"DATA" => self.done = !self.columns.is_empty() || !self.specs.is_empty(),
            b"TABLE" => {
                self.table_depth = self.table_depth.saturating_sub(1);
                self.done = !self.specs.is_empty();
            }
            _ => {}
        }
        Ok(())
    }

    /// A FIELD element: its datatype, arraysize and metadata.
    fn field_spec(&self, e: &BytesStart) -> Result<FieldSpec> {
        let a = attributes(e)?;
        let datatype = a.get("datatype").cloned().unwrap_or_default();
        let prim = Datatype::parse(&datatype).with_context(|| {
            format!(
                "{}: FIELD '{}' has an unknown datatype '{datatype}'",
                self.path.display(),
                a.get("name").cloned().unwrap_or_default()
            )
        })?;
        let (fixed, variable, scalar, max) =
            parse_arraysize(a.get("arraysize").map(String::as_str))
                .with_context(|| format!("{}: FIELD", self.path.display()))?;
        let mut metadata = HashMap::new();
        for key in ["unit", "ucd", "utype", "xtype"] {
            if let Some(v) = a.get(key).filter(|v| !v.is_empty()) {
                metadata.insert(key.to_string(), v.clone());
            }
        }
        if let Some(v) = a.get("arraysize") {
            metadata.insert("votable.arraysize".to_string(), v.clone());
        }
        if let Some(frame) = a.get("ref").and_then(|r| self.frames.get(r)) {
            for (key, value) in frame {
                let key = format!("{}{key}", crate::formats::columns::COOSYS_PREFIX);
                metadata.insert(key, value.clone());
            }
        }
        let name = a
            .get("name")
            .or_else(|| a.get("ID"))
            .cloned()
            .unwrap_or_else(|| format!("col{}", self.specs.len() + 1));
        Ok(FieldSpec {
            name,
            prim,
            fixed: if prim.is_text() && scalar { 1 } else { fixed },
            variable,
            scalar,
            null: None,
            max_chars: match (prim.is_text(), scalar, variable) {
                (false, ..) => None,
                (true, true, _) => Some(1),
                (true, false, false) => Some(fixed),
                (true, false, true) if fixed == 1 => max,
                _ => None,
            },
            metadata,
        })
    }

    /// VALUES inside a FIELD: its null value.
    fn on_values(&mut self, e: &BytesStart) -> Result<()> {
        if let Some(f) = self.in_field.as_mut() {
            f.null = attributes(e)?.get("null").cloned();
            if f.prim.is_integer()
                && !f.scalar
                && let Some(n) = f.null.as_deref().and_then(|n| parse_integer(n.trim()).ok())
            {
                f.metadata
                    .insert(crate::formats::columns::NULL_KEY.to_string(), n.to_string());
            }
        }
        Ok(())
    }

    /// The data begin: their encoding, and the columns to fill.
    fn on_data(&mut self, name: &[u8], empty: bool) -> Result<()> {
        self.encoding = Some(match name {
            b"TABLEDATA" => Encoding::TableData,
            b"BINARY" => Encoding::Binary,
            b"BINARY2" => Encoding::Binary2,
            _ => bail!(
                "{}: the FITS serialization inside VOTables is not supported",
                self.path.display()
            ),
        });
        self.columns = self.specs.iter().cloned().map(ColumnData::new).collect();
        self.done = empty;
        Ok(())
    }

    fn finish_row(&mut self) {
        finish_row(
            &mut self.columns,
            &self.row_cells,
            self.rows,
            &mut self.rejected,
        );
        self.rows += 1;
    }

    /// The end of a base64 STREAM: its rows decoded into the columns.
    fn on_stream_end(&mut self) -> Result<()> {
        let text = self.stream.take().unwrap_or_default();
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let data = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .with_context(|| format!("{}: the STREAM is not valid base64", self.path.display()))?;
        let binary2 = self.encoding == Some(Encoding::Binary2);
        self.rows += read_binary(&mut self.columns, &data, binary2)
            .with_context(|| format!("{}: BINARY data", self.path.display()))?;
        Ok(())
    }

    /// The table: one Arrow column per FIELD (a repeated name gets a suffix, as names
    /// must be unique in SQL), and the cells that could not be read.
    fn finish(mut self) -> Result<VotableTable> {
        if self.specs.is_empty() {
            bail!("{}: no TABLE with FIELDs", self.path.display());
        }
        if self.columns.is_empty() {
            self.columns = self.specs.iter().cloned().map(ColumnData::new).collect();
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut fields = Vec::with_capacity(self.specs.len());
        for spec in &self.specs {
            let mut field = spec.arrow_field();
            let n = seen.entry(spec.name.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                field = field.with_name(format!("{}_{n}", spec.name));
            }
            fields.push(field);
        }
        let metadata = self
            .table_description
            .iter()
            .filter(|d| !d.is_empty())
            .map(|d| ("description".to_string(), d.clone()))
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
        let arrays = self
            .columns
            .into_iter()
            .map(ColumnData::finish)
            .collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(schema, arrays)
            .with_context(|| format!("{}: inconsistent table", self.path.display()))?;
        Ok(VotableTable {
            batch,
            rejected_cells: self.rejected,
        })
    }
}

fn finish_row(
    columns: &mut [ColumnData],
    cells: &[String],
    row: usize,
    rejected: &mut Vec<String>,
) {
    for (i, column) in columns.iter_mut().enumerate() {
        let text = cells.get(i).map(String::as_str).unwrap_or("");
        match column.push_text(text) {
            Ok(None) => {}
            Ok(Some(note)) => rejected.push(format!(
                "row {}, column '{}': {note}",
                row + 1,
                column.spec.name
            )),
            Err(reason) => rejected.push(format!(
                "row {}, column '{}': {reason}; read as null",
                row + 1,
                column.spec.name
            )),
        }
    }
}

fn read_binary(columns: &mut [ColumnData], data: &[u8], binary2: bool) -> Result<usize> {
    let flag_bytes = if binary2 {
        columns.len().div_ceil(8)
    } else {
        0
    };
    let mut pos = 0;
    let mut rows = 0;
    while pos < data.len() {
        let flags = data
            .get(pos..pos + flag_bytes)
            .context("the stream ends inside the null flags")?
            .to_vec();
        pos += flag_bytes;
        for (i, column) in columns.iter_mut().enumerate() {
            let null = binary2 && flags[i / 8] & (0x80 >> (i % 8)) != 0;
            pos = column
                .push_binary(data, pos, null)
                .with_context(|| format!("row {}, column '{}'", rows + 1, column.spec.name))?;
        }
        rows += 1;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arraysize_forms() {
        assert_eq!(parse_arraysize(None).unwrap(), (1, false, true, None));
        assert_eq!(parse_arraysize(Some("*")).unwrap(), (1, true, false, None));
        assert_eq!(
            parse_arraysize(Some("2x3")).unwrap(),
            (6, false, false, None)
        );
        assert_eq!(
            parse_arraysize(Some("2x3x*")).unwrap(),
            (6, true, false, None)
        );
        assert_eq!(
            parse_arraysize(Some("7*")).unwrap(),
            (1, true, false, Some(7))
        );
        assert!(parse_arraysize(Some("*x2")).is_err());
    }

    #[test]
    fn special_floats() {
        assert!(parse_float("NaN").unwrap().is_nan());
        assert_eq!(parse_float("+Inf").unwrap(), f64::INFINITY);
        assert_eq!(parse_float("-Inf").unwrap(), f64::NEG_INFINITY);
        assert_eq!(parse_float("1.5e-3").unwrap(), 1.5e-3);
        assert!(parse_float("abc").is_err());
    }
}
