//! Reading regions of FITS images and writing new images, through cfitsio.
//!
//! Pixels are copied raw (cfitsio scaling switched off on both sides, BZERO/BSCALE copied
//! as cards), so a cutout holds exactly the source's stored values. Regions are read with
//! `fits_read_subset`, which touches only the rows of the region.

use std::ffi::{c_int, c_void};
use std::path::{Path, PathBuf};

use fitsio::sys;

use crate::cfitsio::Fits;

use crate::fits_card::{Card, CardValue};
use crate::fits_header::read_image_header;

/// Stored pixel values of one image or region, in the file's own type.
#[derive(Debug, Clone, PartialEq)]
pub enum Pixels {
    /// BITPIX 8.
    U8(Vec<u8>),
    /// BITPIX 16 (with BZERO 32768: unsigned 16-bit).
    I16(Vec<i16>),
    /// BITPIX 32.
    I32(Vec<i32>),
    /// BITPIX 64.
    I64(Vec<i64>),
    /// BITPIX -32.
    F32(Vec<f32>),
    /// BITPIX -64.
    F64(Vec<f64>),
}

impl Pixels {
    /// The FITS BITPIX of the values.
    pub fn bitpix(&self) -> c_int {
        match self {
            Pixels::U8(_) => 8,
            Pixels::I16(_) => 16,
            Pixels::I32(_) => 32,
            Pixels::I64(_) => 64,
            Pixels::F32(_) => -32,
            Pixels::F64(_) => -64,
        }
    }

    fn new(bitpix: i32, n: usize) -> Result<Pixels, String> {
        Ok(match bitpix {
            8 => Pixels::U8(vec![0; n]),
            16 => Pixels::I16(vec![0; n]),
            32 => Pixels::I32(vec![0; n]),
            64 => Pixels::I64(vec![0; n]),
            -32 => Pixels::F32(vec![f32::NAN; n]),
            -64 => Pixels::F64(vec![f64::NAN; n]),
            other => return Err(format!("BITPIX {other} is not a FITS image type")),
        })
    }

    /// Number of pixels.
    pub fn len(&self) -> usize {
        match self {
            Pixels::U8(v) => v.len(),
            Pixels::I16(v) => v.len(),
            Pixels::I32(v) => v.len(),
            Pixels::I64(v) => v.len(),
            Pixels::F32(v) => v.len(),
            Pixels::F64(v) => v.len(),
        }
    }

    /// Whether there is no pixel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether values are integers (padding then uses BLANK, not NaN).
    pub fn is_integer(&self) -> bool {
        !matches!(self, Pixels::F32(_) | Pixels::F64(_))
    }

    /// The physical value of pixel `i` (BZERO/BSCALE applied), NaN for BLANK.
    pub fn physical(&self, i: usize, scale: Scale) -> f64 {
        let raw = match self {
            Pixels::U8(v) => v[i] as f64,
            Pixels::I16(v) => v[i] as f64,
            Pixels::I32(v) => v[i] as f64,
            Pixels::I64(v) => v[i] as f64,
            Pixels::F32(v) => return v[i] as f64 * scale.bscale + scale.bzero,
            Pixels::F64(v) => return v[i] * scale.bscale + scale.bzero,
        };
        if scale.blank.is_some_and(|b| b as f64 == raw) {
            return f64::NAN;
        }
        raw * scale.bscale + scale.bzero
    }

    /// Sets pixel `i` to the null value (`blank` for integers, NaN for floats).
    fn set_null(&mut self, i: usize, blank: i64) {
        match self {
            Pixels::U8(v) => v[i] = blank as u8,
            Pixels::I16(v) => v[i] = blank as i16,
            Pixels::I32(v) => v[i] = blank as i32,
            Pixels::I64(v) => v[i] = blank,
            Pixels::F32(v) => v[i] = f32::NAN,
            Pixels::F64(v) => v[i] = f64::NAN,
        }
    }

    /// The default BLANK of an integer type: its minimum (255 for bytes).
    pub fn default_blank(&self) -> i64 {
        match self {
            Pixels::U8(_) => 255,
            Pixels::I16(_) => i16::MIN as i64,
            Pixels::I32(_) => i32::MIN as i64,
            _ => i64::MIN,
        }
    }

    fn datatype_and_ptr(&mut self) -> (c_int, *mut c_void) {
        match self {
            Pixels::U8(v) => (sys::TBYTE as c_int, v.as_mut_ptr() as _),
            Pixels::I16(v) => (sys::TSHORT as c_int, v.as_mut_ptr() as _),
            Pixels::I32(v) => (sys::TINT as c_int, v.as_mut_ptr() as _),
            Pixels::I64(v) => (sys::TLONGLONG as c_int, v.as_mut_ptr() as _),
            Pixels::F32(v) => (sys::TFLOAT as c_int, v.as_mut_ptr() as _),
            Pixels::F64(v) => (sys::TDOUBLE as c_int, v.as_mut_ptr() as _),
        }
    }
}

/// BZERO, BSCALE and BLANK of an image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// BZERO (0 when absent).
    pub bzero: f64,
    /// BSCALE (1 when absent).
    pub bscale: f64,
    /// BLANK, the stored value of undefined integer pixels.
    pub blank: Option<i64>,
}

/// A FITS image HDU: where it is, its header and its geometry.
#[derive(Debug, Clone)]
pub struct SourceImage {
    /// The file.
    pub path: PathBuf,
    /// HDU index, 0-based.
    pub hdu: usize,
    /// NAXIS1, NAXIS2.
    pub naxis: [i64; 2],
    /// BITPIX.
    pub bitpix: i32,
    /// The HDU's cards, then the primary's that an extension inherits.
    pub cards: Vec<Card>,
}

impl SourceImage {
    /// Opens the first 2-D image HDU of `path` and reads its header.
    pub fn open(path: &Path) -> Result<SourceImage, String> {
        let header = read_image_header(path, None).map_err(|e| e.to_string())?;
        let bitpix = header
            .cards
            .iter()
            .find(|c| c.keyword == "BITPIX")
            .and_then(|c| c.value.as_f64())
            .ok_or("no BITPIX")? as i32;
        Ok(SourceImage {
            path: path.to_path_buf(),
            hdu: header.index,
            naxis: header.naxis,
            bitpix,
            cards: header.cards,
        })
    }

    /// BZERO, BSCALE and BLANK from the header.
    pub fn scale(&self) -> Scale {
        let num = |k: &str| {
            self.cards
                .iter()
                .find(|c| c.keyword == k)
                .and_then(|c| c.value.as_f64())
        };
        Scale {
            bzero: num("BZERO").unwrap_or(0.0),
            bscale: num("BSCALE").unwrap_or(1.0),
            blank: num("BLANK").map(|b| b as i64),
        }
    }

    /// Reads the region [x0, x1] x [y0, y1] (1-based, inclusive, possibly beyond the
    /// image): stored values, with pixels outside the image set to null (BLANK or NaN).
    /// Returns the pixels (row by row, x fastest) and the BLANK used for integers.
    pub fn read_region(
        &self,
        x0: i64,
        x1: i64,
        y0: i64,
        y1: i64,
    ) -> Result<(Pixels, Option<i64>), String> {
        let (w, h) = ((x1 - x0 + 1) as usize, (y1 - y0 + 1) as usize);
        let mut out = Pixels::new(self.bitpix, w * h)?;
        let blank = out
            .is_integer()
            .then(|| self.scale().blank.unwrap_or(out.default_blank()));
        // The part inside the image.
        let (ix0, ix1) = (x0.max(1), x1.min(self.naxis[0]));
        let (iy0, iy1) = (y0.max(1), y1.min(self.naxis[1]));
        let inside = ix0 <= ix1 && iy0 <= iy1;
        let mut part = if inside {
            let (pw, ph) = ((ix1 - ix0 + 1) as usize, (iy1 - iy0 + 1) as usize);
            let mut part = Pixels::new(self.bitpix, pw * ph)?;
            let f = open_image(&self.path, self.hdu)?;
            read_subset(&f, [ix0, iy0], [ix1, iy1], &mut part)?;
            Some((part, pw))
        } else {
            None
        };
        for j in 0..h {
            let y = y0 + j as i64;
            for i in 0..w {
                let x = x0 + i as i64;
                let k = j * w + i;
                match part.as_mut() {
                    Some((p, pw)) if x >= ix0 && x <= ix1 && y >= iy0 && y <= iy1 => {
                        let src = (y - iy0) as usize * *pw + (x - ix0) as usize;
                        copy_pixel(p, src, &mut out, k);
                    }
                    _ => out.set_null(k, blank.unwrap_or(0)),
                }
            }
        }
        Ok((out, blank))
    }

    /// Reads the whole image (stored values).
    pub fn read_all(&self) -> Result<Pixels, String> {
        let mut out = Pixels::new(self.bitpix, (self.naxis[0] * self.naxis[1]) as usize)?;
        let f = open_image(&self.path, self.hdu)?;
        read_subset(&f, [1, 1], self.naxis, &mut out)?;
        Ok(out)
    }
}

fn copy_pixel(from: &Pixels, i: usize, to: &mut Pixels, k: usize) {
    match (from, to) {
        (Pixels::U8(a), Pixels::U8(b)) => b[k] = a[i],
        (Pixels::I16(a), Pixels::I16(b)) => b[k] = a[i],
        (Pixels::I32(a), Pixels::I32(b)) => b[k] = a[i],
        (Pixels::I64(a), Pixels::I64(b)) => b[k] = a[i],
        (Pixels::F32(a), Pixels::F32(b)) => b[k] = a[i],
        (Pixels::F64(a), Pixels::F64(b)) => b[k] = a[i],
        _ => {}
    }
}

/// The two COMMENT cards cfitsio writes in every new file (citing the FITS paper): not
/// copied, or a new image would have them twice.
fn is_standard_comment(c: &Card) -> bool {
    c.keyword == "COMMENT"
        && (c
            .record
            .contains("FITS (Flexible Image Transport System) format is")
            || c.record.contains("and Astrophysics', volume 376, page 359"))
}

/// Keywords that describe the HDU's structure or checksums: never copied.
pub fn is_structural(keyword: &str) -> bool {
    matches!(
        keyword,
        "SIMPLE"
            | "XTENSION"
            | "BITPIX"
            | "EXTEND"
            | "PCOUNT"
            | "GCOUNT"
            | "END"
            | "CHECKSUM"
            | "DATASUM"
            | "BLANK"
            | "EXTNAME"
            | "EXTVER"
            | "INHERIT"
    ) || keyword.starts_with("NAXIS")
}

/// The records of `cards` to copy into a new image: structural keywords and those
/// `skip` names left out, WCSAXES first (it must precede the other WCS keywords), and a
/// keyword repeated in the source kept once, its other occurrences kept as HISTORY cards
/// (a repeated keyword is a fitsverify warning; its values are not lost).
pub fn copied_records(cards: &[Card], skip: impl Fn(&str) -> bool) -> Vec<String> {
    let mut first = Vec::new();
    let mut rest = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for c in cards {
        let k = c.keyword.as_str();
        if is_structural(k) || skip(k) || is_standard_comment(c) {
            continue;
        }
        let commentary = matches!(k, "COMMENT" | "HISTORY" | "" | "CONTINUE")
            || matches!(c.value, CardValue::Undefined);
        if !commentary && !seen.insert(k.to_string()) {
            let text: String = c.record.chars().take(72).collect();
            rest.push(format!("HISTORY {text}"));
            continue;
        }
        if k == "WCSAXES" {
            first.push(c.record.clone());
        } else {
            rest.push(c.record.clone());
        }
    }
    first.extend(rest);
    first
}

pub use crate::cfitsio::{KeyValue, status_text};

/// HDU `hdu` of `path`, open for reading stored values (scaling off).
fn open_image(path: &Path, hdu: usize) -> Result<Fits, String> {
    let f = Fits::open(path)?;
    f.move_to(hdu)?;
    f.scaling_off()?;
    Ok(f)
}

/// Reads the region `blc`..=`trc` of the current image into `out`.
fn read_subset(f: &Fits, blc: [i64; 2], trc: [i64; 2], out: &mut Pixels) -> Result<(), String> {
    let (datatype, ptr) = out.datatype_and_ptr();
    // SAFETY: `out` was sized by the caller for the region, in its own datatype.
    unsafe { f.read_subset(blc, trc, datatype, ptr) }
}

/// Writes a new single-HDU image file at `path` (created; the caller renames it):
/// `records` are raw header cards (80 characters at most), then `keys` typed keywords,
/// then the pixels, stored as given.
pub fn write_image(
    path: &Path,
    naxis: [i64; 2],
    pixels: &mut Pixels,
    records: &[String],
    keys: &[(String, KeyValue, String)],
) -> Result<(), String> {
    let bitpix = pixels.bitpix();
    let f = Fits::create(path)?;
    f.create_image(bitpix, naxis)?;
    for record in records {
        f.write_record(record)?;
    }
    let long_strings = keys
        .iter()
        .any(|(_, v, _)| matches!(v, KeyValue::Text(t) if t.len() > 68));
    if long_strings {
        f.write_long_string_convention()?;
    }
    for (key, value, comment) in keys {
        f.write_key(key, value, comment)?;
    }
    // Re-read the header (BZERO/BSCALE now set), then store values as given.
    f.reread_header()?;
    f.scaling_off()?;
    let n = pixels.len() as i64;
    let (datatype, ptr) = pixels.datatype_and_ptr();
    // SAFETY: `ptr` holds the `n` pixels of `pixels`, of `datatype`.
    unsafe { f.write_pixels(datatype, n, ptr)? };
    f.close()?;
    check_complete(path, naxis, bitpix)
}

/// Checks that a written image file holds at least its header block and all its data,
/// in whole 2880-byte blocks: cfitsio does not always report a write that the disk
/// refused (ENOSPC) when it flushes its buffers.
fn check_complete(path: &Path, naxis: [i64; 2], bitpix: i32) -> Result<(), String> {
    const BLOCK: u64 = 2880;
    let data = (naxis[0].max(0) * naxis[1].max(0)) as u64 * (bitpix.unsigned_abs() as u64 / 8);
    let minimum = BLOCK + data.div_ceil(BLOCK) * BLOCK;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.sync_all().map_err(|e| {
        format!(
            "{}: cannot write to disk: {e} (is the disk full?)",
            path.display()
        )
    })?;
    let size = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if size < minimum || size % BLOCK != 0 {
        return Err(format!(
            "{}: incomplete file ({size} bytes, at least {minimum} expected): a write failed, most likely because the disk is full (ENOSPC)",
            path.display()
        ));
    }
    Ok(())
}
