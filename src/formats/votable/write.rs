//! VOTable 1.4 documents: the header (RESOURCE, INFO, COOSYS, TIMESYS, FIELDs) and the
//! TABLEDATA and BINARY2 serializations, written batch by batch.
//!
//! Position columns (UCD `pos.eq.*`) reference an ICRS `COOSYS`; time columns in days
//! (UCD `time.epoch`, `time.start`, `time.end`) reference a `TIMESYS` with the MJD origin,
//! the UTC time scale and a topocentric reference position, which is what the survey's
//! dates are. Strings are `char` with `arraysize="*"`; nulls are empty cells in TABLEDATA
//! and null flags in BINARY2.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Result, bail};
use base64::Engine;
use datafusion::arrow::array::ArrayRef;

use crate::formats::columns::{Datatype, ExportColumn, int_null_texts};
use crate::formats::row_text::RowText;
use crate::formats::typed::{Typed, VOTABLE_STYLE};

/// The VOTable namespace of versions 1.3 to 1.5.
pub const NAMESPACE: &str = "http://www.ivoa.net/xml/VOTable/v1.3";

const COOSYS_ID: &str = "icrs";
const TIMESYS_ID: &str = "time_frame";

/// Things a VOTable document says about its result besides the columns.
#[derive(Debug, Clone, Default)]
pub struct DocumentInfo {
    /// The SQL that produced the result, recorded in an INFO.
    pub query: Option<String>,
    /// Table name.
    pub table_name: Option<String>,
    /// Services the rows can be given to (DataLink): the first whose input column the
    /// result has is described after the results (`RESOURCE type="meta"
    /// utype="adhoc:service"`), its column given an ID the descriptor refers to.
    pub services: Vec<ServiceDescriptor>,
}

/// A service a result's rows can be given to, described in the document (DataLink 1.1,
/// "service descriptors").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDescriptor {
    /// The service's standard (`ivo://ivoa.net/std/DataLink#links-1.1`).
    pub standard_id: String,
    /// Where to call it.
    pub access_url: String,
    /// The input parameter the column's values go to (`ID`).
    pub parameter: String,
    /// The result's column whose value each row gives (by name, any case).
    pub column: String,
    /// What the service gives.
    pub description: String,
}

/// The ID of the FIELD a service descriptor refers to.
const SERVICE_FIELD_ID: &str = "service_input";

/// The descriptor `info` gives for `columns`, with the index of its column.
fn chosen_service<'a>(
    columns: &[ExportColumn],
    info: &'a DocumentInfo,
) -> Option<(&'a ServiceDescriptor, usize)> {
    info.services.iter().find_map(|s| {
        columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(&s.column))
            .map(|i| (s, i))
    })
}

/// The service descriptor RESOURCE for `columns`, or nothing.
pub fn service_resources(columns: &[ExportColumn], info: &DocumentInfo) -> String {
    let Some((s, _)) = chosen_service(columns, info) else {
        return String::new();
    };
    format!(
        "<RESOURCE type=\"meta\" utype=\"adhoc:service\" name=\"{name}\">\n\
         <DESCRIPTION>{description}</DESCRIPTION>\n\
         <PARAM name=\"standardID\" datatype=\"char\" arraysize=\"*\" value=\"{standard}\"/>\n\
         <PARAM name=\"accessURL\" datatype=\"char\" arraysize=\"*\" value=\"{url}\"/>\n\
         <GROUP name=\"inputParams\">\n\
         <PARAM name=\"{parameter}\" datatype=\"char\" arraysize=\"*\" value=\"\" ref=\"{SERVICE_FIELD_ID}\"/>\n\
         </GROUP>\n</RESOURCE>\n",
        name = escaped(&s.parameter),
        description = escaped(&s.description),
        standard = escaped(&s.standard_id),
        url = escaped(&s.access_url),
        parameter = escaped(&s.parameter),
    )
}

/// Appends `text` to `out` with the five XML entities escaped; characters XML 1.0 cannot
/// hold (control characters other than tab, newline and carriage return) become U+FFFD.
pub fn escape_xml(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&apos;",
            0..=8 | 11 | 12 | 14..=31 => "\u{FFFD}".as_bytes(),
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(replacement);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// `text` escaped for an attribute value: line ends and tabs as character references,
/// which XML parsers would otherwise turn into spaces.
fn escaped(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    escape_xml(text, &mut out);
    String::from_utf8_lossy(&out)
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

fn is_position(column: &ExportColumn) -> bool {
    column
        .ucd
        .as_deref()
        .is_some_and(|u| u.starts_with("pos.eq.ra") || u.starts_with("pos.eq.dec"))
}

/// The coordinate system a column refers to: the one it was read with, else ICRS for
/// positions, else none.
fn frame_of(column: &ExportColumn) -> Option<Vec<(String, String)>> {
    if !column.coosys.is_empty() {
        Some(column.coosys.clone())
    } else {
        is_position(column).then(|| vec![("system".to_string(), "ICRS".to_string())])
    }
}

/// The distinct coordinate systems of the columns, in column order.
fn frames(columns: &[ExportColumn]) -> Vec<Vec<(String, String)>> {
    let mut frames: Vec<Vec<(String, String)>> = Vec::new();
    for f in columns.iter().filter_map(frame_of) {
        if !frames.contains(&f) {
            frames.push(f);
        }
    }
    frames
}

/// A COOSYS ID: `icrs` for plain ICRS, else `coosysN`.
fn frame_id(frame: &[(String, String)], index: usize) -> String {
    match frame {
        [(key, system)] if key == "system" && system == "ICRS" => COOSYS_ID.to_string(),
        _ => format!("coosys{}", index + 1),
    }
}

fn is_time(column: &ExportColumn) -> bool {
    column.unit.as_deref() == Some("d")
        && column.ucd.as_deref().is_some_and(|u| {
            u.starts_with("time.epoch") || u.starts_with("time.start") || u.starts_with("time.end")
        })
}

/// The document up to and including the last FIELD of the TABLE.
pub fn header(columns: &[ExportColumn], info: &DocumentInfo) -> String {
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<VOTABLE version=\"1.4\" xmlns=\"{NAMESPACE}\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"{NAMESPACE} http://www.ivoa.net/xml/VOTable/v1.3\">\n"
    ));
    x.push_str("<RESOURCE type=\"results\">\n");
    x.push_str("<INFO name=\"QUERY_STATUS\" value=\"OK\"/>\n");
    x.push_str(&format!(
        "<INFO name=\"software\" value=\"skyql {}\"/>\n",
        env!("CARGO_PKG_VERSION")
    ));
    if let Some(q) = &info.query {
        x.push_str(&format!(
            "<INFO name=\"QUERY\" value=\"{}\"/>\n",
            escaped(q)
        ));
    }
    let frames = frames(columns);
    for (k, frame) in frames.iter().enumerate() {
        x.push_str(&format!("<COOSYS ID=\"{}\"", frame_id(frame, k)));
        for (key, value) in frame {
            x.push_str(&format!(" {key}=\"{}\"", escaped(value)));
        }
        x.push_str("/>\n");
    }
    if columns.iter().any(is_time) {
        x.push_str(&format!(
            "<TIMESYS ID=\"{TIMESYS_ID}\" timeorigin=\"MJD-origin\" timescale=\"UTC\" \
             refposition=\"TOPOCENTER\"/>\n"
        ));
    }
    match &info.table_name {
        Some(name) => x.push_str(&format!("<TABLE name=\"{}\">\n", escaped(name))),
        None => x.push_str("<TABLE>\n"),
    }
    let service_column = chosen_service(columns, info).map(|(_, i)| i);
    for (i, c) in columns.iter().enumerate() {
        let frame = frame_of(c).and_then(|f| frames.iter().position(|g| *g == f));
        let mut field = field_element(c, frame.map(|k| frame_id(&frames[k], k)));
        if service_column == Some(i) {
            field = field.replacen(
                " datatype=",
                &format!(" ID=\"{SERVICE_FIELD_ID}\" datatype="),
                1,
            );
        }
        x.push_str(&field);
    }
    x
}

/// One FIELD element: name, datatype, arraysize, unit, UCD, utype, xtype, the COOSYS
/// (`coosys`, its ID) or TIMESYS it refers to, its description and null value.
fn field_element(c: &ExportColumn, coosys: Option<String>) -> String {
    let mut x = String::new();
    x.push_str(&format!(
        "<FIELD name=\"{}\" datatype=\"{}\"",
        escaped(&c.name),
        c.kind.name()
    ));
    match c.char_length {
        Some(n) if c.kind == Datatype::Char && !c.is_array => {
            x.push_str(&format!(" arraysize=\"{}\"", n.max(1)));
        }
        _ if c.kind == Datatype::Char || c.is_array => x.push_str(" arraysize=\"*\""),
        _ => {}
    }
    for (attr, value) in [
        ("unit", &c.unit),
        ("ucd", &c.ucd),
        ("utype", &c.utype),
        ("xtype", &c.xtype),
    ] {
        if let Some(v) = value {
            x.push_str(&format!(" {attr}=\"{}\"", escaped(v)));
        }
    }
    if let Some(id) = coosys {
        x.push_str(&format!(" ref=\"{id}\""));
    } else if is_time(c) {
        x.push_str(&format!(" ref=\"{TIMESYS_ID}\""));
    }
    if c.description.is_none() && c.null_value.is_none() {
        x.push_str("/>\n");
        return x;
    }
    x.push_str(">\n");
    if let Some(d) = &c.description {
        let mut text = Vec::new();
        escape_xml(d, &mut text);
        x.push_str(&format!(
            "  <DESCRIPTION>{}</DESCRIPTION>\n",
            String::from_utf8_lossy(&text)
        ));
    }
    if let Some(n) = c.null_value {
        x.push_str(&format!("  <VALUES null=\"{n}\"/>\n"));
    }
    x.push_str("</FIELD>\n");
    x
}

/// The end of the document after the DATA element: the TABLE closes, then an OVERFLOW
/// INFO when a row limit cut the result, then the service descriptors (`resources`).
pub fn footer(overflow: bool, resources: &str) -> String {
    let mut x = String::from("</TABLE>\n");
    if overflow {
        x.push_str(
            "<INFO name=\"QUERY_STATUS\" value=\"OVERFLOW\">The result was cut at the row limit</INFO>\n",
        );
    }
    x.push_str("</RESOURCE>\n");
    x.push_str(resources);
    x.push_str("</VOTABLE>\n");
    x
}

/// VOTable serializations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serialization {
    /// XML TABLEDATA.
    TableData,
    /// Base64 BINARY2 (with null flags).
    Binary2,
}

/// The text of TABLEDATA rows (`<TR><TD>...</TD></TR>`, a line each).
pub struct TabledataRows {
    int_nulls: Vec<String>,
}

impl RowText for TabledataRows {
    fn append_rows(&self, arrays: &[ArrayRef], out: &mut Vec<u8>) {
        let (typed, rows) = Typed::columns(arrays);
        for row in 0..rows {
            out.extend_from_slice(b"<TR>");
            for (i, column) in typed.iter().enumerate() {
                if column.is_null(row) {
                    out.extend_from_slice(b"<TD/>");
                    continue;
                }
                out.extend_from_slice(b"<TD>");
                match column.text(row) {
                    Some(s) => escape_xml(s, out),
                    None => column.write_number(row, &VOTABLE_STYLE, &self.int_nulls[i], out),
                }
                out.extend_from_slice(b"</TD>");
            }
            out.extend_from_slice(b"</TR>\n");
        }
    }
}

/// Streams a VOTable: header at creation, rows batch by batch, footer at the end.
pub struct VotableWriter<W: Write> {
    out: W,
    serialization: Serialization,
    ncols: usize,
    tabledata: Arc<TabledataRows>,
    null_values: Vec<Option<i64>>,
    buf: Vec<u8>,
    /// Bytes of a BINARY2 stream not yet base64-encoded (less than 3).
    pending: Vec<u8>,
    /// The service descriptors written after the results.
    resources: String,
}

impl<W: Write> VotableWriter<W> {
    /// Writes the header and opens the DATA element.
    pub fn new(
        mut out: W,
        columns: &[ExportColumn],
        info: &DocumentInfo,
        serialization: Serialization,
    ) -> Result<Self> {
        out.write_all(header(columns, info).as_bytes())?;
        let resources = service_resources(columns, info);
        out.write_all(match serialization {
            Serialization::TableData => b"<DATA><TABLEDATA>\n",
            Serialization::Binary2 => b"<DATA><BINARY2><STREAM encoding=\"base64\">\n",
        })?;
        Ok(VotableWriter {
            out,
            serialization,
            ncols: columns.len(),
            tabledata: Arc::new(TabledataRows {
                int_nulls: int_null_texts(columns),
            }),
            null_values: columns.iter().map(|c| c.null_value).collect(),
            buf: Vec::new(),
            pending: Vec::new(),
            resources,
        })
    }

    /// Writes the rows of one batch of normalized columns.
    pub fn write(&mut self, arrays: &[ArrayRef]) -> Result<()> {
        match self.serialization {
            Serialization::TableData => {
                self.tabledata.append_rows(arrays, &mut self.buf);
                self.out.write_all(&self.buf)?;
                self.buf.clear();
                Ok(())
            }
            Serialization::Binary2 => self.write_binary2(arrays),
        }
    }

    /// The text of TABLEDATA rows, to encode batches elsewhere (None for BINARY2, whose
    /// base64 stream runs across batches).
    pub fn row_text(&self) -> Option<Arc<TabledataRows>> {
        (self.serialization == Serialization::TableData).then(|| self.tabledata.clone())
    }

    /// Writes TABLEDATA rows already encoded by [`Self::row_text`].
    pub fn write_encoded(&mut self, rows: &[u8]) -> Result<()> {
        if self.serialization != Serialization::TableData {
            bail!("encoded rows are TABLEDATA, this VOTable is BINARY2");
        }
        self.out.write_all(rows)?;
        Ok(())
    }

    fn write_binary2(&mut self, arrays: &[ArrayRef]) -> Result<()> {
        let (typed, rows) = Typed::columns(arrays);
        let flag_bytes = self.ncols.div_ceil(8);
        let mut raw = std::mem::take(&mut self.pending);
        for row in 0..rows {
            let flags_at = raw.len();
            raw.resize(flags_at + flag_bytes, 0);
            for (i, column) in typed.iter().enumerate() {
                let null = column.is_null(row);
                if null {
                    raw[flags_at + i / 8] |= 0x80 >> (i % 8);
                }
                write_binary(column, row, null, self.null_values[i], &mut raw);
            }
            if raw.len() > (3 << 18) {
                self.flush_base64(&mut raw, false)?;
            }
        }
        self.flush_base64(&mut raw, false)?;
        self.pending = raw;
        Ok(())
    }

    /// Encodes the complete 3-byte groups of `raw` (all of it when `last`), in lines of
    /// 76 characters, and keeps the remainder.
    fn flush_base64(&mut self, raw: &mut Vec<u8>, last: bool) -> Result<()> {
        const LINE: usize = 57; // 57 bytes -> 76 base64 characters
        let usable = if last {
            raw.len()
        } else {
            raw.len() / LINE * LINE
        };
        let engine = base64::engine::general_purpose::STANDARD;
        for chunk in raw[..usable].chunks(LINE) {
            let start = self.buf.len();
            self.buf.resize(start + chunk.len().div_ceil(3) * 4, 0);
            let n = engine
                .encode_slice(chunk, &mut self.buf[start..])
                .map_err(|e| anyhow::anyhow!("base64: {e}"))?;
            self.buf.truncate(start + n);
            self.buf.push(b'\n');
        }
        raw.drain(..usable);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Closes the DATA element and the document; returns the underlying writer.
    pub fn finish(mut self, overflow: bool) -> Result<W> {
        if self.serialization == Serialization::Binary2 {
            let mut raw = std::mem::take(&mut self.pending);
            self.flush_base64(&mut raw, true)?;
        }
        self.out.write_all(match self.serialization {
            Serialization::TableData => b"</TABLEDATA></DATA>\n",
            Serialization::Binary2 => b"</STREAM></BINARY2></DATA>\n",
        })?;
        self.out
            .write_all(footer(overflow, &self.resources).as_bytes())?;
        Ok(self.out)
    }
}

/// Appends the big-endian BINARY2 encoding of one cell (any value when null).
fn write_binary(column: &Typed, row: usize, null: bool, int_null: Option<i64>, raw: &mut Vec<u8>) {
    // A null element of an integer array takes the column's VALUES null.
    let int = |v: i64| if null { int_null.unwrap_or(v) } else { v };
    match column {
        Typed::Boolean(a) => raw.push(if null {
            b'?'
        } else if a.value(row) {
            b'T'
        } else {
            b'F'
        }),
        Typed::UInt8(a) => raw.push(int(a.value(row) as i64) as u8),
        Typed::Int16(a) => raw.extend_from_slice(&(int(a.value(row) as i64) as i16).to_be_bytes()),
        Typed::Int32(a) => raw.extend_from_slice(&(int(a.value(row) as i64) as i32).to_be_bytes()),
        Typed::Int64(a) => raw.extend_from_slice(&int(a.value(row)).to_be_bytes()),
        Typed::Float32(a) => {
            let v = if null { f32::NAN } else { a.value(row) };
            raw.extend_from_slice(&v.to_be_bytes())
        }
        Typed::Float64(a) => {
            let v = if null { f64::NAN } else { a.value(row) };
            raw.extend_from_slice(&v.to_be_bytes())
        }
        Typed::Text(a) => {
            let s = if null { "" } else { a.value(row) };
            raw.extend_from_slice(&(s.len() as u32).to_be_bytes());
            raw.extend_from_slice(s.as_bytes());
        }
        Typed::List(list, values) => {
            if null {
                raw.extend_from_slice(&0u32.to_be_bytes());
                return;
            }
            let offsets = list.value_offsets();
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            raw.extend_from_slice(&((end - start) as u32).to_be_bytes());
            for i in start..end {
                write_binary(values, i, values.is_null(i), int_null, raw);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        let mut out = Vec::new();
        escape_xml("a<b & \"c\" 'd'>\u{1}", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{FFFD}"
        );
    }
}
