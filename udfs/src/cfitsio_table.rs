//! Table HDUs through the cfitsio wrapper: the HDU's kind, its shape, each column's
//! equivalent type (after TSCAL/TZERO: unsigned integers, scaled values), and the reads
//! with cfitsio's null flags (TNULL for integers, NaN for floats, undefined logicals).

use std::ffi::{c_char, c_int, c_long, c_void};

use fitsio::sys;

use crate::cfitsio::Fits;

/// The kind of an HDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HduKind {
    /// An image (or the empty primary array).
    Image,
    /// An ASCII table (`XTENSION = 'TABLE'`).
    AsciiTable,
    /// A binary table (`XTENSION = 'BINTABLE'`).
    BinaryTable,
}

/// A column's type as cfitsio reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnType {
    /// cfitsio's datatype code of the values once scaled (TSHORT, TUSHORT, TDOUBLE, ...).
    pub code: c_int,
    /// Elements per row (characters for strings; the maximum for variable-length arrays).
    pub repeat: i64,
    /// Bytes per element (characters of one string).
    pub width: i64,
    /// A variable-length array (`P` or `Q` in TFORM).
    pub variable: bool,
}

impl Fits {
    /// The kind of the current HDU.
    pub fn hdu_kind(&self) -> Result<HduKind, String> {
        let (mut hdutype, mut status) = (0, 0);
        // SAFETY: open file.
        unsafe { sys::ffghdt(self.raw(), &mut hdutype, &mut status) };
        self.check(status, "cannot read the HDU type")?;
        Ok(match hdutype as u32 {
            sys::ASCII_TBL => HduKind::AsciiTable,
            sys::BINARY_TBL => HduKind::BinaryTable,
            _ => HduKind::Image,
        })
    }

    /// Rows and columns of the current table HDU.
    pub fn table_shape(&self) -> Result<(u64, usize), String> {
        let (mut rows, mut cols, mut status) = (0i64, 0, 0);
        // SAFETY: open file, table HDU.
        unsafe {
            sys::ffgnrwll(self.raw(), &mut rows, &mut status);
            sys::ffgncl(self.raw(), &mut cols, &mut status);
        }
        self.check(status, "cannot read the table's shape")?;
        Ok((rows.max(0) as u64, cols.max(0) as usize))
    }

    /// The type of column `column` (1-based).
    pub fn column_type(&self, column: usize) -> Result<ColumnType, String> {
        let (mut raw, mut code, mut repeat, mut width, mut status) = (0, 0, 0i64, 0i64, 0);
        // SAFETY: open file, table HDU; out-pointers.
        unsafe {
            sys::ffgtclll(
                self.raw(),
                column as c_int,
                &mut raw,
                &mut repeat,
                &mut width,
                &mut status,
            );
            sys::ffeqtyll(
                self.raw(),
                column as c_int,
                &mut code,
                &mut repeat,
                &mut width,
                &mut status,
            );
        }
        self.check(status, &format!("cannot read the type of column {column}"))?;
        Ok(ColumnType {
            code: code.abs(),
            repeat,
            width,
            variable: raw < 0,
        })
    }

    /// Reads `count` elements of column `column` from row `row` (1-based), element
    /// `element` (1-based), as `code`, into `values` (room for `count` elements of that
    /// type) and `nulls` (`count` flags, 1 for an undefined value).
    ///
    /// # Safety
    /// `values` must point to room for `count` elements of the C type of `code` (for
    /// TSTRING: `count` pointers to buffers of the column's width + 1 bytes).
    pub unsafe fn read_column(
        &self,
        code: c_int,
        column: usize,
        (row, element): (i64, i64),
        count: usize,
        values: *mut c_void,
        nulls: &mut [c_char],
    ) -> Result<(), String> {
        if nulls.len() < count {
            return Err("null flags shorter than the read".to_string());
        }
        let (mut any, mut status) = (0, 0);
        // SAFETY: the caller's guarantee for `values`; `nulls` holds `count` flags.
        unsafe {
            sys::ffgcf(
                self.raw(),
                code,
                column as c_int,
                row,
                element,
                count as i64,
                values,
                nulls.as_mut_ptr(),
                &mut any,
                &mut status,
            )
        };
        self.check(status, &format!("cannot read column {column} at row {row}"))
    }

    /// The bits of an `X` column in row `row` (1-based), one flag per bit.
    pub fn read_bits(&self, column: usize, row: i64, bits: &mut [c_char]) -> Result<(), String> {
        let mut status = 0;
        // SAFETY: `bits` holds the bits asked for.
        unsafe {
            sys::ffgcx(
                self.raw(),
                column as c_int,
                row,
                1,
                bits.len() as i64,
                bits.as_mut_ptr(),
                &mut status,
            )
        };
        self.check(
            status,
            &format!("cannot read the bits of column {column} at row {row}"),
        )
    }

    /// The length of the variable-length array of column `column` in row `row`.
    pub fn array_length(&self, column: usize, row: i64) -> Result<usize, String> {
        let (mut length, mut heap, mut status): (c_long, c_long, c_int) = (0, 0, 0);
        // SAFETY: out-pointers.
        unsafe {
            sys::ffgdes(
                self.raw(),
                column as c_int,
                row,
                &mut length,
                &mut heap,
                &mut status,
            )
        };
        self.check(
            status,
            &format!("cannot read the array descriptor of column {column} at row {row}"),
        )?;
        Ok(length.max(0) as usize)
    }
}
