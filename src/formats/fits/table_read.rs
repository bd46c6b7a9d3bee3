//! FITS tables (BINTABLE and ASCII TABLE) read through cfitsio into Arrow, a batch of rows
//! at a time. Every TFORM type: `L` logicals, `X` bits, `B`/`I`/`J`/`K` integers (unsigned
//! through TZERO, scaled ones as floats through TSCAL/TZERO), `E`/`D` floats, `C`/`M`
//! complex numbers (real and imaginary parts), `A` strings, vectors (repeat > 1: fixed-size
//! lists) and `P`/`Q` variable-length arrays (lists). TNULL values, NaN and undefined
//! logicals become nulls. TTYPE, TUNIT, TUCD and TCOMM become the field's name and its
//! `unit`, `ucd` and `description` metadata, which exports write again.

use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, FixedSizeListArray, ListArray, PrimitiveArray, RecordBatch, StringArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Schema, SchemaRef, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use fitsio::sys;
use skyql_udfs::cfitsio::Fits;
use skyql_udfs::cfitsio_table::{ColumnType, HduKind};
use skyql_udfs::fits_card::CardValue;

/// Rows per batch at most.
pub const BATCH_ROWS: usize = 32_768;
/// Bytes a batch's fixed-size columns may take, about: wide rows make shorter batches.
const BATCH_BYTES: usize = 64 << 20;
/// Elements of one cell (a vector or a variable-length array) at most.
const MAX_ELEMENTS: usize = 100_000_000;

/// A table HDU and its columns, as found when the table was registered.
#[derive(Debug, Clone)]
pub struct FitsTable {
    /// The file.
    pub path: PathBuf,
    /// The HDU (0-based: the primary HDU is 0, the first extension 1).
    pub hdu: usize,
    /// Rows (NAXIS2).
    pub rows: u64,
    columns: Vec<FitsColumn>,
    /// The Arrow schema.
    pub schema: SchemaRef,
}

#[derive(Debug, Clone)]
struct FitsColumn {
    number: usize,
    ty: ColumnType,
    element: DataType,
}

/// Opens the table HDU `hdu` of `path` (a number, 0 for the primary HDU, or an EXTNAME),
/// or the first table HDU.
pub fn open_table(path: &Path, hdu: Option<&str>) -> Result<FitsTable> {
    let fits = Fits::open(path).map_err(anyhow::Error::msg)?;
    let index = find_hdu(&fits, hdu).with_context(|| format!("{}", path.display()))?;
    let at = || format!("{} HDU {index}", path.display());
    match fits.hdu_kind().map_err(anyhow::Error::msg)? {
        HduKind::Image => bail!("{}: an image, not a table", at()),
        HduKind::AsciiTable | HduKind::BinaryTable => {}
    }
    let (rows, count) = fits.table_shape().map_err(anyhow::Error::msg)?;
    let (cards, _) = fits.header_cards().map_err(anyhow::Error::msg)?;
    let keys: HashMap<String, String> = cards
        .into_iter()
        .filter_map(|c| match c.value {
            CardValue::Text(t) => Some((c.keyword, t)),
            _ => None,
        })
        .collect();
    let mut columns = Vec::with_capacity(count);
    let mut fields = Vec::with_capacity(count);
    for number in 1..=count {
        let ty = fits.column_type(number).map_err(anyhow::Error::msg)?;
        let name = keys
            .get(&format!("TTYPE{number}"))
            .filter(|n| !n.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| format!("col{number}"));
        let element = element_type(ty.code).with_context(|| {
            format!(
                "{}: column {number} ({name}): cfitsio type {} is not supported",
                at(),
                ty.code
            )
        })?;
        let mut metadata = HashMap::new();
        for (key, prefix) in [("unit", "TUNIT"), ("ucd", "TUCD"), ("description", "TCOMM")] {
            if let Some(v) = keys
                .get(&format!("{prefix}{number}"))
                .filter(|v| !v.is_empty())
            {
                metadata.insert(key.to_string(), v.clone());
            }
        }
        if ty.repeat > MAX_ELEMENTS as i64 {
            bail!(
                "{}: column {number} ({name}): {} elements per row (at most {MAX_ELEMENTS} are read)",
                at(),
                ty.repeat
            );
        }
        let column = FitsColumn {
            number,
            ty,
            element,
        };
        fields.push(Field::new(name, column.arrow_type(), true).with_metadata(metadata));
        columns.push(column);
    }
    Ok(FitsTable {
        path: path.to_path_buf(),
        hdu: index,
        rows,
        columns,
        schema: Arc::new(Schema::new(fields)),
    })
}

/// The HDU asked for, or the first table HDU.
fn find_hdu(fits: &Fits, hdu: Option<&str>) -> Result<usize> {
    let count = fits.hdu_count().map_err(anyhow::Error::msg)?;
    if let Some(n) = hdu.and_then(|h| h.trim().parse::<usize>().ok()) {
        if n >= count {
            bail!("HDU {n} asked for, the file has {count} (0 is the primary HDU)");
        }
        fits.move_to(n).map_err(anyhow::Error::msg)?;
        return Ok(n);
    }
    for index in 0..count {
        fits.move_to(index).map_err(anyhow::Error::msg)?;
        let is_table = fits.hdu_kind().map_err(anyhow::Error::msg)? != HduKind::Image;
        let matches = match hdu {
            None => is_table,
            Some(name) => {
                let (cards, _) = fits.header_cards().map_err(anyhow::Error::msg)?;
                cards.iter().any(|c| {
                    c.keyword == "EXTNAME"
                        && matches!(&c.value, CardValue::Text(t) if t.trim().eq_ignore_ascii_case(name.trim()))
                })
            }
        };
        if matches {
            return Ok(index);
        }
    }
    match hdu {
        Some(name) => bail!("no HDU named {name}"),
        None => bail!("no table HDU (BINTABLE or TABLE) in the file"),
    }
}

/// The Arrow type of one element of cfitsio type `code` (complex: one part).
fn element_type(code: i32) -> Option<DataType> {
    Some(match code as u32 {
        sys::TLOGICAL | sys::TBIT => DataType::Boolean,
        sys::TBYTE => DataType::UInt8,
        sys::TSBYTE => DataType::Int8,
        sys::TSHORT => DataType::Int16,
        sys::TUSHORT => DataType::UInt16,
        sys::TINT | sys::TLONG => DataType::Int32,
        sys::TUINT | sys::TULONG => DataType::UInt32,
        sys::TLONGLONG => DataType::Int64,
        sys::TULONGLONG => DataType::UInt64,
        sys::TFLOAT | sys::TCOMPLEX => DataType::Float32,
        sys::TDOUBLE | sys::TDBLCOMPLEX => DataType::Float64,
        sys::TSTRING => DataType::Utf8,
        _ => return None,
    })
}

impl FitsColumn {
    fn is_complex(&self) -> bool {
        matches!(self.ty.code as u32, sys::TCOMPLEX | sys::TDBLCOMPLEX)
    }

    /// Values per row of a fixed-size column (complex: both parts); 1 for scalars.
    fn per_row(&self) -> usize {
        let n = if self.ty.code as u32 == sys::TSTRING {
            // `rAw` with w < r: r / w strings of w characters per row.
            match (self.ty.repeat, self.ty.width) {
                (r, w) if w > 0 && r > w => (r / w) as usize,
                _ => 1,
            }
        } else {
            self.ty.repeat.max(1) as usize
        };
        if self.is_complex() { 2 * n } else { n }
    }

    fn arrow_type(&self) -> DataType {
        let item = || Arc::new(Field::new("item", self.element.clone(), true));
        if self.ty.variable && self.element == DataType::Utf8 {
            // `PA`: one string of its own length per row.
            DataType::Utf8
        } else if self.ty.variable {
            DataType::List(item())
        } else if self.per_row() > 1 || self.is_complex() {
            DataType::FixedSizeList(item(), self.per_row() as i32)
        } else {
            self.element.clone()
        }
    }
}

impl FitsTable {
    /// Rows per batch: [`BATCH_ROWS`], fewer for wide rows.
    pub fn batch_rows(&self) -> usize {
        let row_bytes: usize = self
            .columns
            .iter()
            .map(|c| 8 * c.per_row() + (c.ty.width.max(0) as usize))
            .sum();
        (BATCH_BYTES / row_bytes.max(1)).clamp(1, BATCH_ROWS)
    }
}

/// Every row of `table` in batches of [`FitsTable::batch_rows`], read as they are
/// consumed (a big table is never whole in memory).
pub fn read_batches(table: &FitsTable) -> Result<impl Iterator<Item = Result<RecordBatch>> + '_> {
    let fits = Fits::open(&table.path).map_err(anyhow::Error::msg)?;
    fits.move_to(table.hdu).map_err(anyhow::Error::msg)?;
    let step = table.batch_rows() as u64;
    Ok((0..table.rows.div_ceil(step)).map(move |k| {
        let first = k * step;
        read_rows(&fits, table, first, (table.rows - first).min(step) as usize)
    }))
}

/// Reads rows `first..first + n` (0-based) of `table` from `fits` (at the table's HDU).
pub fn read_rows(fits: &Fits, table: &FitsTable, first: u64, n: usize) -> Result<RecordBatch> {
    let mut arrays = Vec::with_capacity(table.columns.len());
    for (column, field) in table.columns.iter().zip(table.schema.fields()) {
        let array = read_column(fits, column, first as i64 + 1, n).with_context(|| {
            format!(
                "{} HDU {}: column {} ({}), rows {}..{}",
                table.path.display(),
                table.hdu,
                column.number,
                field.name(),
                first + 1,
                first + n as u64
            )
        })?;
        arrays.push(array);
    }
    Ok(RecordBatch::try_new_with_options(
        table.schema.clone(),
        arrays,
        &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
    )?)
}

fn read_column(fits: &Fits, column: &FitsColumn, row: i64, n: usize) -> Result<ArrayRef> {
    if column.ty.variable {
        return variable_column(fits, column, row, n);
    }
    if column.ty.repeat <= 0 || (column.element == DataType::Utf8 && column.ty.width <= 0) {
        // A column of no element (`0J`, `0A`): legal FITS, nothing to read.
        return Ok(datafusion::arrow::array::new_null_array(
            &column.arrow_type(),
            n,
        ));
    }
    let per_row = column.per_row();
    let values = if column.ty.code as u32 == sys::TBIT {
        bits(fits, column, row, n)?
    } else {
        elements(fits, column, (row, 1), n * per_row)?
    };
    if let DataType::FixedSizeList(item, size) = column.arrow_type() {
        return Ok(Arc::new(FixedSizeListArray::try_new(
            item, size, values, None,
        )?));
    }
    Ok(values)
}

/// `count` consecutive values from `(row, element)`, across rows (complex columns: `count`
/// parts, real and imaginary in turn).
fn elements(fits: &Fits, column: &FitsColumn, at: (i64, i64), count: usize) -> Result<ArrayRef> {
    let c = column.number;
    if column.is_complex() {
        return complex_parts(fits, column, at, count);
    }
    Ok(match column.element {
        DataType::Boolean => {
            let (values, nulls) = read_raw::<c_char>(fits, sys::TLOGICAL as i32, c, at, count)?;
            let flags = values
                .iter()
                .zip(&nulls)
                .map(|(v, n)| (*n == 0).then_some(*v != 0));
            Arc::new(flags.collect::<BooleanArray>())
        }
        DataType::Utf8 => strings(fits, column, at, count, column.ty.width.max(0) as usize)?,
        DataType::UInt8 => primitive::<UInt8Type>(fits, sys::TBYTE, c, at, count)?,
        DataType::Int8 => primitive::<Int8Type>(fits, sys::TSBYTE, c, at, count)?,
        DataType::Int16 => primitive::<Int16Type>(fits, sys::TSHORT, c, at, count)?,
        DataType::UInt16 => primitive::<UInt16Type>(fits, sys::TUSHORT, c, at, count)?,
        DataType::Int32 => primitive::<Int32Type>(fits, sys::TINT, c, at, count)?,
        DataType::UInt32 => primitive::<UInt32Type>(fits, sys::TUINT, c, at, count)?,
        DataType::Int64 => primitive::<Int64Type>(fits, sys::TLONGLONG, c, at, count)?,
        DataType::UInt64 => primitive::<UInt64Type>(fits, sys::TULONGLONG, c, at, count)?,
        DataType::Float32 => primitive::<Float32Type>(fits, sys::TFLOAT, c, at, count)?,
        DataType::Float64 => primitive::<Float64Type>(fits, sys::TDOUBLE, c, at, count)?,
        ref other => bail!("no reader for {other}"),
    })
}

/// Reads `count` values of C type `T` as cfitsio type `code`, with their null flags.
fn read_raw<T: Default + Clone>(
    fits: &Fits,
    code: i32,
    column: usize,
    at: (i64, i64),
    count: usize,
) -> Result<(Vec<T>, Vec<c_char>)> {
    let mut values = vec![T::default(); count];
    let mut nulls = vec![0 as c_char; count];
    if count > 0 {
        // SAFETY: `values` holds `count` elements of the C type of `code` (the callers pair
        // each code with its type: TBYTE u8, TSHORT i16, TINT i32, TLONGLONG i64, ...).
        unsafe {
            fits.read_column(
                code,
                column,
                at,
                count,
                values.as_mut_ptr() as *mut c_void,
                &mut nulls,
            )
        }
        .map_err(anyhow::Error::msg)?;
    }
    Ok((values, nulls))
}

fn primitive<T: ArrowPrimitiveType>(
    fits: &Fits,
    code: u32,
    column: usize,
    at: (i64, i64),
    count: usize,
) -> Result<ArrayRef> {
    // Floats: cfitsio reports NaN in its null flags (undefined values in FITS).
    let (values, nulls) = read_raw::<T::Native>(fits, code as i32, column, at, count)?;
    let valid = NullBuffer::from(nulls.iter().map(|n| *n == 0).collect::<Vec<bool>>());
    Ok(Arc::new(PrimitiveArray::<T>::new(
        values.into(),
        Some(valid),
    )))
}

/// Complex values as their `count` parts; a null complex number nulls both parts.
fn complex_parts(
    fits: &Fits,
    column: &FitsColumn,
    at: (i64, i64),
    count: usize,
) -> Result<ArrayRef> {
    if column.element == DataType::Float32 {
        complex_typed::<Float32Type>(fits, column, sys::TCOMPLEX, at, count)
    } else {
        complex_typed::<Float64Type>(fits, column, sys::TDBLCOMPLEX, at, count)
    }
}

/// [`complex_parts`] for single (`T` = Float32, TCOMPLEX) or double (Float64, TDBLCOMPLEX)
/// precision.
fn complex_typed<T: ArrowPrimitiveType>(
    fits: &Fits,
    column: &FitsColumn,
    code: u32,
    at: (i64, i64),
    count: usize,
) -> Result<ArrayRef> {
    let numbers = count / 2;
    let mut values = vec![T::Native::default(); count];
    // cfitsio reads complex numbers as pairs and needs two null flags per number.
    let mut nulls = vec![0 as c_char; count.max(1)];
    if numbers > 0 {
        let first = (at.0, (at.1 - 1) / 2 + 1);
        // SAFETY: room for `numbers` complex numbers (2 parts of T each) and 2 flags each.
        unsafe {
            fits.read_column(
                code as i32,
                column.number,
                first,
                numbers,
                values.as_mut_ptr() as *mut c_void,
                &mut nulls,
            )
        }
        .map_err(anyhow::Error::msg)?;
    }
    let valid = NullBuffer::from((0..count).map(|i| nulls[i / 2] == 0).collect::<Vec<bool>>());
    Ok(Arc::new(PrimitiveArray::<T>::new(
        values.into(),
        Some(valid),
    )))
}

/// Strings: one per row (the whole `rA` field, trailing blanks removed).
/// Strings of at most `width` characters: cfitsio writes each with its NUL into a buffer of
/// `width + 1` bytes (`width`: the column's string length, or a variable-length cell's).
fn strings(
    fits: &Fits,
    column: &FitsColumn,
    at: (i64, i64),
    count: usize,
    width: usize,
) -> Result<ArrayRef> {
    let width = width.max(1);
    let mut buffers: Vec<Vec<u8>> = vec![vec![0u8; width + 1]; count];
    let mut pointers: Vec<*mut c_char> = buffers
        .iter_mut()
        .map(|b| b.as_mut_ptr() as *mut c_char)
        .collect();
    let mut nulls = vec![0 as c_char; count];
    if count > 0 {
        // SAFETY: `pointers` holds `count` buffers of the column's width + 1 bytes.
        unsafe {
            fits.read_column(
                sys::TSTRING as i32,
                column.number,
                at,
                count,
                pointers.as_mut_ptr() as *mut c_void,
                &mut nulls,
            )
        }
        .map_err(anyhow::Error::msg)?;
    }
    let texts = buffers.iter().zip(&nulls).map(|(b, n)| {
        let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
        (*n == 0).then(|| String::from_utf8_lossy(&b[..end]).trim_end().to_string())
    });
    Ok(Arc::new(texts.collect::<StringArray>()))
}

/// `X` columns: the bits of each row.
fn bits(fits: &Fits, column: &FitsColumn, row: i64, n: usize) -> Result<ArrayRef> {
    let per_row = column.per_row();
    let mut all = Vec::with_capacity(n * per_row);
    let mut buffer = vec![0 as c_char; per_row];
    for r in 0..n as i64 {
        fits.read_bits(column.number, row + r, &mut buffer)
            .map_err(anyhow::Error::msg)?;
        all.extend(buffer.iter().map(|b| Some(*b != 0)));
    }
    Ok(Arc::new(all.into_iter().collect::<BooleanArray>()))
}

/// `P`/`Q` columns: each row's array, read with its own length.
fn variable_column(fits: &Fits, column: &FitsColumn, row: i64, n: usize) -> Result<ArrayRef> {
    let mut lengths = Vec::with_capacity(n);
    let mut parts = Vec::with_capacity(n);
    for r in 0..n as i64 {
        let length = fits
            .array_length(column.number, row + r)
            .map_err(anyhow::Error::msg)?;
        if length > MAX_ELEMENTS {
            bail!(
                "row {}: a variable-length array of {length} elements (at most {MAX_ELEMENTS} are read)",
                row + r
            );
        }
        let count = if column.is_complex() {
            2 * length
        } else {
            length
        };
        let part = if column.element == DataType::Utf8 {
            strings(fits, column, (row + r, 1), usize::from(length > 0), length)?
        } else {
            elements(fits, column, (row + r, 1), count)?
        };
        lengths.push(part.len());
        parts.push(part);
    }
    let refs: Vec<&dyn datafusion::arrow::array::Array> =
        parts.iter().map(|a| a.as_ref()).collect();
    if column.element == DataType::Utf8 {
        // One string per row; an empty cell is the empty string.
        let texts = parts.iter().map(|p| {
            let p = p.as_any().downcast_ref::<StringArray>();
            Some(
                p.filter(|p| datafusion::arrow::array::Array::len(*p) > 0)
                    .map_or("", |p| p.value(0))
                    .to_string(),
            )
        });
        return Ok(Arc::new(texts.collect::<StringArray>()));
    }
    let values = if refs.is_empty() {
        datafusion::arrow::array::new_empty_array(&column.element)
    } else {
        datafusion::arrow::compute::concat(&refs)?
    };
    let item = Arc::new(Field::new("item", column.element.clone(), true));
    Ok(Arc::new(ListArray::try_new(
        item,
        OffsetBuffer::from_lengths(lengths),
        values,
        None,
    )?))
}
