//! FITS binary tables (BINTABLE) through cfitsio.
//!
//! A FITS table declares every string column's width in its header, before the data, so
//! the result is first spooled batch by batch to an Arrow IPC file beside the output
//! (memory stays bounded; the widths, array lengths and null presence are measured on the
//! way), then written column by column. Columns carry TTYPE, TFORM, TUNIT, TUCD and TCOMM
//! (the description); integer columns with nulls declare TNULL (the type's minimum),
//! floats use NaN, booleans the FITS undefined logical; arrays are variable-length (`P`)
//! columns. The query is kept in a long-string `QUERY` keyword.

use std::ffi::{CString, c_char, c_int, c_void};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, PrimitiveArray, StringArray,
};
use datafusion::arrow::datatypes::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Schema, UInt8Type,
};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use fitsio::sys;
use skyql_udfs::cfitsio::{Fits as CfitsioFile, KeyValue};

use crate::formats::columns::{Datatype, ExportColumn};
use crate::formats::typed::Typed;

/// Spools batches, then writes the FITS file at `finish`.
pub struct FitsTableWriter {
    path: PathBuf,
    spool_path: PathBuf,
    spool: Option<StreamWriter<std::io::BufWriter<File>>>,
    columns: Vec<ExportColumn>,
    schema: Arc<Schema>,
    stats: Vec<ColumnStats>,
    rows: u64,
    query: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct ColumnStats {
    max_len: usize,
    has_nulls: bool,
}

impl FitsTableWriter {
    /// Prepares to write `path` (`-` for standard output); the spool goes beside it.
    pub fn new(path: &Path, columns: &[ExportColumn], query: Option<String>) -> Result<Self> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() && path.as_os_str() != "-" => p.to_path_buf(),
            _ if path.as_os_str() == "-" => std::env::temp_dir(),
            _ => PathBuf::from("."),
        };
        let spool_path = dir.join(format!(
            ".skyql-fits-spool-{}-{}",
            std::process::id(),
            SPOOL_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(ExportColumn::arrow_field)
                .collect::<Vec<_>>(),
        ));
        let file = File::create(&spool_path)
            .with_context(|| format!("cannot create {}", spool_path.display()))?;
        let spool = StreamWriter::try_new(std::io::BufWriter::new(file), &schema)?;
        Ok(FitsTableWriter {
            path: path.to_path_buf(),
            spool_path,
            spool: Some(spool),
            columns: columns.to_vec(),
            schema,
            stats: vec![ColumnStats::default(); columns.len()],
            rows: 0,
            query,
        })
    }

    /// Spools one batch of normalized columns.
    pub fn write(&mut self, arrays: &[ArrayRef]) -> Result<()> {
        for (stats, array) in self.stats.iter_mut().zip(arrays) {
            stats.has_nulls |= array.null_count() > 0;
            match Typed::new(array) {
                Typed::Text(a) => {
                    for i in 0..a.len() {
                        stats.max_len = stats.max_len.max(a.value_length(i) as usize);
                    }
                }
                Typed::List(a, _) => {
                    for i in 0..a.len() {
                        stats.max_len = stats.max_len.max(a.value_length(i) as usize);
                    }
                }
                _ => {}
            }
        }
        let batch = RecordBatch::try_new(self.schema.clone(), arrays.to_vec())?;
        self.rows += batch.num_rows() as u64;
        if let Some(spool) = self.spool.as_mut() {
            spool.write(&batch)?;
        }
        Ok(())
    }

    /// Writes the FITS file from the spool (removed when the writer is dropped).
    pub fn finish(mut self) -> Result<()> {
        self.write_fits()
    }

    fn write_fits(&mut self) -> Result<()> {
        if let Some(mut spool) = self.spool.take() {
            spool.finish()?;
        }
        let mut fits = Fits::create(&self.path)?;
        let forms: Vec<String> = self
            .columns
            .iter()
            .zip(&self.stats)
            .map(|(c, s)| tform(c, s))
            .collect();
        fits.create_table(&self.columns, &forms)?;
        fits.declare_long_strings()?;
        for (i, (c, s)) in self.columns.iter().zip(&self.stats).enumerate() {
            let n = i + 1;
            if let Some(ucd) = &c.ucd {
                fits.long_string(&format!("TUCD{n}"), ucd, "UCD of the column")?;
            }
            if let Some(d) = &c.description {
                fits.long_string(&format!("TCOMM{n}"), d, "")?;
            }
            if s.has_nulls
                && !c.is_array
                && let Some(null) = tnull(c.kind)
            {
                fits.integer(&format!("TNULL{n}"), null, "null value")?;
            }
        }
        fits.long_string(
            "ORIGIN",
            &format!("skyql {}", env!("CARGO_PKG_VERSION")),
            "software that wrote this file",
        )?;
        if let Some(q) = &self.query {
            fits.long_string("QUERY", q, "SQL of the result")?;
        }
        fits.reread()?;
        let file = File::open(&self.spool_path)
            .with_context(|| format!("cannot read {}", self.spool_path.display()))?;
        let reader = StreamReader::try_new(std::io::BufReader::new(file), None)?;
        let mut first_row = 1i64;
        for batch in reader {
            let batch = batch?;
            for (i, array) in batch.columns().iter().enumerate() {
                fits.write_column(i as c_int + 1, first_row, array)?;
            }
            first_row += batch.num_rows() as i64;
        }
        if fits.replaced_characters > 0 {
            eprintln!(
                "warning: FITS export: strings are printable ASCII in FITS: {} character(s) \
                 replaced (line ends and tabs by spaces, others by '?')",
                fits.replaced_characters
            );
        }
        fits.close()
    }
}

impl Drop for FitsTableWriter {
    fn drop(&mut self) {
        // The spool goes whether the export succeeded or failed.
        self.spool.take();
        let _ = std::fs::remove_file(&self.spool_path);
    }
}

static SPOOL_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn tform(c: &ExportColumn, s: &ColumnStats) -> String {
    let code = match c.kind {
        Datatype::Boolean => 'L',
        Datatype::UInt8 => 'B',
        Datatype::Int16 => 'I',
        Datatype::Int32 => 'J',
        Datatype::Int64 => 'K',
        Datatype::Float32 => 'E',
        Datatype::Float64 => 'D',
        Datatype::Char | Datatype::UnicodeChar => return format!("{}A", s.max_len.max(1)),
        // The column model never maps Arrow types to these (read-only VOTable types).
        Datatype::Bit => 'X',
        Datatype::FloatComplex => 'C',
        Datatype::DoubleComplex => 'M',
    };
    if c.is_array {
        format!("1P{code}({})", s.max_len)
    } else {
        format!("1{code}")
    }
}

fn tnull(kind: Datatype) -> Option<i64> {
    match kind {
        Datatype::UInt8 => Some(255),
        Datatype::Int16 => Some(i16::MIN as i64),
        Datatype::Int32 => Some(i32::MIN as i64),
        Datatype::Int64 => Some(i64::MIN),
        _ => None,
    }
}

fn c_string(text: &str) -> Result<CString> {
    CString::new(text.replace('\0', " ")).context("text holds a NUL byte")
}

/// A FITS file open for writing through skyql's cfitsio wrapper (closed on drop; an
/// incomplete file is removed by the export driver, which wrote it under a temporary
/// name).
struct Fits {
    file: CfitsioFile,
    /// Characters of string values outside printable ASCII, replaced.
    replaced_characters: u64,
}

/// FITS strings hold printable ASCII only (FITS 4.0, section 7.3.3): line ends and tabs
/// become spaces, other characters `?`. Returns the text and the number replaced.
pub fn fits_ascii(text: &str) -> (std::borrow::Cow<'_, str>, u64) {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return (std::borrow::Cow::Borrowed(text), 0);
    }
    let mut replaced = 0;
    let out = text
        .chars()
        .map(|c| match c {
            ' '..='~' => c,
            '\n' | '\r' | '\t' => {
                replaced += 1;
                ' '
            }
            _ => {
                replaced += 1;
                '?'
            }
        })
        .collect();
    (std::borrow::Cow::Owned(out), replaced)
}

/// A column name as a FITS TTYPE: letters, digits and underscores (a struct field
/// `wcs.crval1` becomes `wcs_crval1`).
pub fn fits_column_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Fits {
    fn create(path: &Path) -> Result<Fits> {
        Ok(Fits {
            file: CfitsioFile::create(path).map_err(anyhow::Error::msg)?,
            replaced_characters: 0,
        })
    }

    fn check(&self, status: c_int, what: &str) -> Result<()> {
        self.file.check(status, what).map_err(anyhow::Error::msg)
    }

    fn create_table(&mut self, columns: &[ExportColumn], forms: &[String]) -> Result<()> {
        let names: Vec<CString> = columns
            .iter()
            .map(|c| c_string(&fits_column_name(&c.name)))
            .collect::<Result<_>>()?;
        let forms: Vec<CString> = forms.iter().map(|f| c_string(f)).collect::<Result<_>>()?;
        let units: Vec<CString> = columns
            .iter()
            .map(|c| c_string(c.unit.as_deref().unwrap_or("")))
            .collect::<Result<_>>()?;
        let mut name_ptrs: Vec<*mut c_char> = names.iter().map(|s| s.as_ptr() as _).collect();
        let mut form_ptrs: Vec<*mut c_char> = forms.iter().map(|s| s.as_ptr() as _).collect();
        let mut unit_ptrs: Vec<*mut c_char> = units.iter().map(|s| s.as_ptr() as _).collect();
        let extname = c_string("RESULT")?;
        let mut status = 0;
        // SAFETY: arrays of `columns.len()` valid C strings that outlive the call.
        unsafe {
            sys::ffcrtb(
                self.file.raw(),
                sys::BINARY_TBL as c_int,
                0,
                columns.len() as c_int,
                name_ptrs.as_mut_ptr(),
                form_ptrs.as_mut_ptr(),
                unit_ptrs.as_mut_ptr(),
                extname.as_ptr(),
                &mut status,
            )
        };
        self.check(status, "cannot create the binary table")
    }

    fn long_string(&mut self, key: &str, value: &str, comment: &str) -> Result<()> {
        self.file
            .write_key(key, &KeyValue::Text(value.to_string()), comment)
            .map_err(anyhow::Error::msg)
    }

    /// Writes the LONGSTRN keyword announcing the CONTINUE long-string convention.
    fn declare_long_strings(&mut self) -> Result<()> {
        self.file
            .write_long_string_convention()
            .map_err(anyhow::Error::msg)
    }

    fn integer(&mut self, key: &str, value: i64, comment: &str) -> Result<()> {
        self.file
            .write_key(key, &KeyValue::Integer(value), comment)
            .map_err(anyhow::Error::msg)
    }

    /// Makes cfitsio read back the keywords written after the table was created.
    fn reread(&mut self) -> Result<()> {
        self.file.reread_header().map_err(anyhow::Error::msg)
    }

    fn put(
        &mut self,
        datatype: u32,
        col: c_int,
        row: i64,
        nelem: usize,
        data: *mut c_void,
    ) -> Result<()> {
        if nelem == 0 {
            return Ok(());
        }
        let mut status = 0;
        // SAFETY: `data` points to `nelem` values of `datatype`.
        unsafe {
            sys::ffpcl(
                self.file.raw(),
                datatype as c_int,
                col,
                row,
                1,
                nelem as i64,
                data,
                &mut status,
            )
        };
        self.check(status, &format!("cannot write column {col}"))
    }

    /// Logical values; a null is cfitsio's undefined logical.
    fn write_logicals(&mut self, col: c_int, first_row: i64, a: &BooleanArray) -> Result<()> {
        let n = a.len();
        let mut v: Vec<c_char> = (0..n).map(|i| a.value(i) as c_char).collect();
        self.put(sys::TLOGICAL, col, first_row, n, v.as_mut_ptr() as _)?;
        for i in (0..n).filter(|&i| a.is_null(i)) {
            let mut status = 0;
            // SAFETY: open file; one element of an existing row.
            unsafe {
                sys::ffpclu(
                    self.file.raw(),
                    col,
                    first_row + i as i64,
                    1,
                    1,
                    &mut status,
                )
            };
            self.check(status, "cannot write a null")?;
        }
        Ok(())
    }

    /// Strings as printable ASCII (the characters replaced are counted); null is empty.
    fn write_texts(&mut self, col: c_int, first_row: i64, a: &StringArray) -> Result<()> {
        let n = a.len();
        let strings: Vec<CString> = (0..n)
            .map(|i| {
                let text = if a.is_null(i) { "" } else { a.value(i) };
                let (ascii, replaced) = fits_ascii(text);
                self.replaced_characters += replaced;
                c_string(&ascii)
            })
            .collect::<Result<_>>()?;
        let mut ptrs: Vec<*mut c_char> = strings.iter().map(|s| s.as_ptr() as _).collect();
        self.put(sys::TSTRING, col, first_row, n, ptrs.as_mut_ptr() as _)
    }

    /// Numbers of cfitsio type `datatype`; a null is `null` (the column's TNULL, or NaN).
    fn write_numbers<T: ArrowPrimitiveType>(
        &mut self,
        datatype: u32,
        col: c_int,
        first_row: i64,
        a: &PrimitiveArray<T>,
        null: T::Native,
    ) -> Result<()> {
        let mut v: Vec<T::Native> = (0..a.len())
            .map(|i| if a.is_null(i) { null } else { a.value(i) })
            .collect();
        self.put(datatype, col, first_row, a.len(), v.as_mut_ptr() as _)
    }

    fn write_column(&mut self, col: c_int, first_row: i64, array: &ArrayRef) -> Result<()> {
        let n = array.len();
        match Typed::new(array) {
            Typed::Boolean(a) => self.write_logicals(col, first_row, a)?,
            Typed::UInt8(a) => self.write_numbers(sys::TBYTE, col, first_row, a, 255)?,
            Typed::Int16(a) => self.write_numbers(sys::TSHORT, col, first_row, a, i16::MIN)?,
            Typed::Int32(a) => self.write_numbers(sys::TINT, col, first_row, a, i32::MIN)?,
            Typed::Int64(a) => self.write_numbers(sys::TLONGLONG, col, first_row, a, i64::MIN)?,
            Typed::Float32(a) => self.write_numbers(sys::TFLOAT, col, first_row, a, f32::NAN)?,
            Typed::Float64(a) => self.write_numbers(sys::TDOUBLE, col, first_row, a, f64::NAN)?,
            Typed::Text(a) => self.write_texts(col, first_row, a)?,
            Typed::List(list, _) => {
                for i in 0..n {
                    if list.is_null(i) {
                        continue;
                    }
                    let values = list.value(i);
                    self.write_array_cell(col, first_row + i as i64, &values)?;
                }
            }
        }
        Ok(())
    }

    fn write_array_cell(&mut self, col: c_int, row: i64, values: &ArrayRef) -> Result<()> {
        let n = values.len();
        macro_rules! floats {
            ($t:ty, $arrow:ty, $code:expr) => {{
                let a = values.as_primitive::<$arrow>();
                let mut v: Vec<$t> = (0..n)
                    .map(|i| if a.is_null(i) { <$t>::NAN } else { a.value(i) })
                    .collect();
                self.put($code, col, row, n, v.as_mut_ptr() as _)
            }};
        }
        macro_rules! ints {
            ($t:ty, $arrow:ty, $code:expr) => {{
                let a = values.as_primitive::<$arrow>();
                let mut v: Vec<$t> = a.values().to_vec();
                self.put($code, col, row, n, v.as_mut_ptr() as _)
            }};
        }
        match Typed::new(values) {
            Typed::Float64(_) => floats!(f64, Float64Type, sys::TDOUBLE),
            Typed::Float32(_) => floats!(f32, Float32Type, sys::TFLOAT),
            Typed::Int64(_) => ints!(i64, Int64Type, sys::TLONGLONG),
            Typed::Int32(_) => ints!(i32, Int32Type, sys::TINT),
            Typed::Int16(_) => ints!(i16, Int16Type, sys::TSHORT),
            Typed::UInt8(_) => ints!(u8, UInt8Type, sys::TBYTE),
            Typed::Boolean(a) => {
                let mut v: Vec<c_char> = (0..n).map(|i| a.value(i) as c_char).collect();
                self.put(sys::TLOGICAL, col, row, n, v.as_mut_ptr() as _)
            }
            _ => bail!("column {col}: unsupported array element type"),
        }
    }

    fn close(self) -> Result<()> {
        self.file.close().map_err(anyhow::Error::msg)
    }
}
