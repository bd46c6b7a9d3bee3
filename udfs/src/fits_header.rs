//! Reading the header of a FITS image HDU with cfitsio (through `fitsio`).

use std::fmt;
use std::path::Path;

use crate::cfitsio::Fits;
use crate::fits_card::Card;

/// The header of one 2-D image HDU.
#[derive(Debug, Clone)]
pub struct ImageHeader {
    /// HDU index, 0-based (0 = primary).
    pub index: usize,
    /// NAXIS1, NAXIS2.
    pub naxis: [i64; 2],
    /// The HDU's cards; an extension's cards are followed by the primary header's cards
    /// that it does not set itself (structural keywords excepted).
    pub cards: Vec<Card>,
    /// Byte offset where the HDU's data end, as the header announces.
    pub data_end: u64,
}

/// Why a header could not be read: where (`file`, `HDU 2`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError {
    /// `file` or `HDU N` (1-based).
    pub location: String,
    /// The reason.
    pub reason: String,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.reason)
    }
}

impl std::error::Error for HeaderError {}

fn err(location: impl Into<String>, reason: impl Into<String>) -> HeaderError {
    HeaderError {
        location: location.into(),
        reason: reason.into(),
    }
}

/// Reads the header of HDU `hdu` (0-based), or of the first 2-D image HDU when `None`.
/// Fails on a file cfitsio cannot open, on a missing HDU, and on data that would end
/// beyond the end of the file (a truncated file).
pub fn read_image_header(path: &Path, hdu: Option<usize>) -> Result<ImageHeader, HeaderError> {
    let file_size = std::fs::metadata(path)
        .map_err(|e| err("file", format!("cannot read: {e}")))?
        .len();
    let f = Fits::open(path).map_err(|e| err("file", format!("not a readable FITS file: {e}")))?;
    let n = f.hdu_count().map_err(|e| err("file", e))?;
    let candidates: Vec<usize> = match hdu {
        Some(i) if i < n => vec![i],
        Some(i) => {
            return Err(err(
                format!("HDU {}", i + 1),
                format!("the file has {n} HDUs"),
            ));
        }
        None => (0..n).collect(),
    };
    let mut chosen = None;
    for i in candidates {
        let axes = f
            .move_to(i)
            .and_then(|()| f.image_axes())
            .map_err(|e| err(format!("HDU {}", i + 1), format!("unreadable HDU: {e}")))?;
        match axes {
            Some(a) if a.len() == 2 => {
                chosen = Some((i, [a[0], a[1]]));
                break;
            }
            _ if hdu.is_some() => {
                return Err(err(format!("HDU {}", i + 1), "not a 2-D image"));
            }
            _ => {}
        }
    }
    let Some((index, naxis)) = chosen else {
        return Err(err("file", "no 2-D image HDU"));
    };
    let location = format!("HDU {}", index + 1);
    let (mut cards, data_end) =
        hdu_cards(&f, index).map_err(|e| err(&location, format!("cannot read the header: {e}")))?;
    // The data size the header declares, in checked arithmetic: cfitsio's own product
    // of NAXISn wraps for absurd sizes (2^62 x 2^62), and the wrapped size could pass the
    // check below.
    let bitpix = cards
        .iter()
        .find(|c| c.keyword == "BITPIX")
        .and_then(|c| c.value.as_f64())
        .unwrap_or(0.0);
    let declared = naxis
        .iter()
        .try_fold((bitpix.abs() as u64) / 8, |bytes, &n| {
            u64::try_from(n).ok().and_then(|n| bytes.checked_mul(n))
        });
    match declared {
        None => {
            return Err(err(
                &location,
                format!(
                    "NAXIS1 x NAXIS2 = {} x {} pixels of BITPIX {bitpix}: no file can hold that",
                    naxis[0], naxis[1]
                ),
            ));
        }
        Some(bytes) if bytes > file_size => {
            return Err(err(
                &location,
                format!(
                    "truncated: the header announces {bytes} bytes of data, the file has {file_size} bytes"
                ),
            ));
        }
        Some(_) => {}
    }
    if data_end > file_size {
        return Err(err(
            &location,
            format!(
                "truncated: the header announces data up to byte {data_end}, the file has {file_size} bytes"
            ),
        ));
    }
    if index > 0 {
        let (primary, _) =
            hdu_cards(&f, 0).map_err(|e| err("HDU 1", format!("cannot read the header: {e}")))?;
        let structural = ["SIMPLE", "BITPIX", "EXTEND", "END"];
        for c in primary {
            let own = cards.iter().any(|a| a.keyword == c.keyword);
            if !own && !structural.contains(&c.keyword.as_str()) && !c.keyword.starts_with("NAXIS")
            {
                cards.push(c);
            }
        }
    }
    Ok(ImageHeader {
        index,
        naxis,
        cards,
        data_end,
    })
}

/// The header holding a WCS: that of [`read_image_header`], or, in a file without a 2-D
/// image (a header-only FITS file such as astrometry.net's `wcs.fits`, NAXIS = 0), the
/// first HDU (or HDU `hdu`) whose cards have CTYPE1 or CRVAL1. Its image size then comes
/// from IMAGEW/IMAGEH, else NAXIS1/NAXIS2 cards, else is 0 x 0.
pub fn read_wcs_header(path: &Path, hdu: Option<usize>) -> Result<ImageHeader, HeaderError> {
    let image_error = match read_image_header(path, hdu) {
        Ok(h) => return Ok(h),
        Err(e) if e.reason == "no 2-D image HDU" || e.reason == "not a 2-D image" => e,
        Err(e) => return Err(e),
    };
    let f = Fits::open(path).map_err(|e| err("file", format!("not a readable FITS file: {e}")))?;
    let n = f.hdu_count().map_err(|e| err("file", e))?;
    let candidates: Vec<usize> = match hdu {
        Some(i) => vec![i],
        None => (0..n).collect(),
    };
    for index in candidates {
        let location = format!("HDU {}", index + 1);
        let (cards, data_end) = hdu_cards(&f, index)
            .map_err(|e| err(&location, format!("cannot read the header: {e}")))?;
        let has = |k: &str| cards.iter().any(|c| c.keyword == k);
        if !(has("CTYPE1") || has("CRVAL1")) {
            continue;
        }
        let number = |k: &str| {
            cards
                .iter()
                .find(|c| c.keyword == k)
                .and_then(|c| c.value.as_f64())
        };
        let size = |a: &str, b: &str| number(a).or_else(|| number(b)).unwrap_or(0.0) as i64;
        let naxis = [size("IMAGEW", "NAXIS1"), size("IMAGEH", "NAXIS2")];
        return Ok(ImageHeader {
            index,
            naxis,
            cards,
            data_end,
        });
    }
    Err(err(
        image_error.location,
        "no 2-D image HDU and no header with WCS keywords (CTYPE1, CRVAL1)",
    ))
}

/// Every card of HDU `index` (0-based) and the byte where its data end.
fn hdu_cards(f: &Fits, index: usize) -> Result<(Vec<Card>, u64), String> {
    f.move_to(index)?;
    f.header_cards()
}
