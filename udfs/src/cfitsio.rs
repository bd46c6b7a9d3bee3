//! The one cfitsio wrapper of skyql: open (for reading, any name), create, status checks,
//! HDUs, header cards, image regions, keywords, pixels, close. Image functions, header
//! ingest, the FITS table writer and the demo's image writer all go through it; code that
//! needs a cfitsio call this type does not wrap uses [`Fits::raw`] and [`Fits::check`].

use std::ffi::{CString, c_char, c_int, c_long, c_void};
use std::path::{Path, PathBuf};

use fitsio::sys;

use crate::cfitsio_name::CfitsioName;
use crate::fits_card::{Card, parse_card};

/// cfitsio's text for a status code.
pub fn status_text(status: c_int) -> String {
    let mut text = [0 as c_char; 31];
    // SAFETY: ffgerr writes at most 30 characters and a NUL.
    unsafe { sys::ffgerr(status, text.as_mut_ptr()) };
    // SAFETY: NUL-terminated by ffgerr.
    unsafe { std::ffi::CStr::from_ptr(text.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// A C string of `text` (a NUL is refused).
pub fn c_string(text: &str) -> Result<CString, String> {
    CString::new(text).map_err(|_| format!("'{}' holds a NUL byte", text.replace('\0', "\\0")))
}

/// A typed keyword value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    /// A real number.
    Real(f64),
    /// An integer.
    Integer(i64),
    /// T or F.
    Logical(bool),
    /// A string (long strings use the CONTINUE convention).
    Text(String),
    /// Remove the keyword.
    Delete,
}

/// An open FITS file; closed when dropped.
#[derive(Debug)]
pub struct Fits {
    fptr: *mut sys::fitsfile,
    path: PathBuf,
}

// SAFETY: a cfitsio handle is used by one thread at a time (no shared access; `Fits` is
// not `Sync`), and cfitsio is built thread-safe for separate handles.
unsafe impl Send for Fits {}

impl Fits {
    /// Opens `path` for reading (any name: see `cfitsio_name`).
    /// A compressed file (by its content, whatever its name) or a file that is not a
    /// regular file is refused before cfitsio sees it: cfitsio would expand the first in
    /// memory and block on a FIFO.
    pub fn open(path: &Path) -> Result<Fits, String> {
        crate::file_content::require_uncompressed_fits(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let file =
            CfitsioName::for_reading(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = c_string(file.as_str())?;
        let mut fptr = std::ptr::null_mut();
        let mut status = 0;
        // SAFETY: valid out-pointer and C string.
        unsafe { sys::ffopen(&mut fptr, name.as_ptr(), 0, &mut status) };
        if status != 0 {
            return Err(format!(
                "{}: cannot open: cfitsio error {status} ({})",
                path.display(),
                status_text(status)
            ));
        }
        Ok(Fits {
            fptr,
            path: path.to_path_buf(),
        })
    }

    /// Creates `path` (replacing a file of that name), or writes to standard output for
    /// `-`.
    pub fn create(path: &Path) -> Result<Fits, String> {
        let name = if path.as_os_str() == "-" {
            "-".to_string()
        } else {
            format!("!{}", path.display())
        };
        let name = c_string(&name)?;
        let mut fptr = std::ptr::null_mut();
        let mut status = 0;
        // SAFETY: valid out-pointer and C string.
        unsafe { sys::ffinit(&mut fptr, name.as_ptr(), &mut status) };
        if status != 0 {
            return Err(format!(
                "{}: cannot create: cfitsio error {status} ({})",
                path.display(),
                status_text(status)
            ));
        }
        Ok(Fits {
            fptr,
            path: path.to_path_buf(),
        })
    }

    /// The raw handle, for the cfitsio calls this type does not wrap.
    pub fn raw(&self) -> *mut sys::fitsfile {
        self.fptr
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Ok` for status 0, else an error naming the file, the action and cfitsio's reason.
    pub fn check(&self, status: c_int, action: &str) -> Result<(), String> {
        if status == 0 {
            Ok(())
        } else {
            Err(format!(
                "{}: {action}: cfitsio error {status} ({})",
                self.path.display(),
                status_text(status)
            ))
        }
    }

    /// The number of HDUs.
    pub fn hdu_count(&self) -> Result<usize, String> {
        let (mut n, mut status) = (0, 0);
        // SAFETY: open file.
        unsafe { sys::ffthdu(self.fptr, &mut n, &mut status) };
        self.check(status, "cannot count the HDUs")?;
        Ok(n as usize)
    }

    /// Makes HDU `index` (0-based) current.
    pub fn move_to(&self, index: usize) -> Result<(), String> {
        let (mut hdutype, mut status) = (0, 0);
        // SAFETY: open file.
        unsafe { sys::ffmahd(self.fptr, index as c_int + 1, &mut hdutype, &mut status) };
        self.check(status, &format!("cannot move to HDU {}", index + 1))
    }

    /// The current HDU's image axes (NAXIS1 first), or `None` when it is not an image.
    pub fn image_axes(&self) -> Result<Option<Vec<i64>>, String> {
        let (mut hdutype, mut status) = (0, 0);
        // SAFETY: open file.
        unsafe { sys::ffghdt(self.fptr, &mut hdutype, &mut status) };
        self.check(status, "cannot read the HDU type")?;
        if hdutype != sys::IMAGE_HDU as c_int {
            return Ok(None);
        }
        let mut naxis = 0;
        // SAFETY: open file, image HDU.
        unsafe { sys::ffgidm(self.fptr, &mut naxis, &mut status) };
        self.check(status, "cannot read NAXIS")?;
        let mut axes: Vec<c_long> = vec![0; naxis.max(0) as usize];
        // SAFETY: `axes` holds `naxis` values.
        unsafe { sys::ffgisz(self.fptr, naxis, axes.as_mut_ptr(), &mut status) };
        self.check(status, "cannot read the axes")?;
        Ok(Some(axes.into_iter().collect()))
    }

    /// The current HDU's cards and the byte where its data end.
    pub fn header_cards(&self) -> Result<(Vec<Card>, u64), String> {
        let (mut nkeys, mut more, mut status) = (0, 0, 0);
        // SAFETY: open file.
        unsafe { sys::ffghsp(self.fptr, &mut nkeys, &mut more, &mut status) };
        self.check(status, "cannot read the header size")?;
        let mut cards = Vec::with_capacity(nkeys as usize);
        for k in 1..=nkeys {
            let mut buf = [0 as c_char; 81];
            // SAFETY: a buffer of FLEN_CARD (81) characters.
            unsafe { sys::ffgrec(self.fptr, k, buf.as_mut_ptr(), &mut status) };
            self.check(status, &format!("cannot read card {k}"))?;
            // SAFETY: NUL-terminated by ffgrec.
            let record = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
            cards.extend(parse_card(&record));
        }
        let (mut head, mut data, mut end) = (0i64, 0i64, 0i64);
        // SAFETY: open file.
        unsafe { sys::ffghadll(self.fptr, &mut head, &mut data, &mut end, &mut status) };
        self.check(status, "cannot read the HDU's position")?;
        Ok((cards, end as u64))
    }

    /// Switches cfitsio's scaling off: stored values are read and written as they are.
    pub fn scaling_off(&self) -> Result<(), String> {
        let mut status = 0;
        // SAFETY: open file.
        unsafe { sys::ffpscl(self.fptr, 1.0, 0.0, &mut status) };
        self.check(status, "cannot switch scaling off")
    }

    /// Creates an image HDU of `bitpix` and two axes.
    pub fn create_image(&self, bitpix: c_int, naxis: [i64; 2]) -> Result<(), String> {
        let mut axes: [c_long; 2] = [naxis[0] as c_long, naxis[1] as c_long];
        let mut status = 0;
        // SAFETY: open file; two axes.
        unsafe { sys::ffcrim(self.fptr, bitpix, 2, axes.as_mut_ptr(), &mut status) };
        self.check(status, "cannot create the image")
    }

    /// Appends a raw 80-character header record.
    pub fn write_record(&self, record: &str) -> Result<(), String> {
        let card = c_string(record)?;
        let mut status = 0;
        // SAFETY: open file, C string.
        unsafe { sys::ffprec(self.fptr, card.as_ptr(), &mut status) };
        self.check(status, &format!("cannot write the card '{record}'"))
    }

    /// Announces the CONTINUE long-string convention (fitsverify warns otherwise).
    pub fn write_long_string_convention(&self) -> Result<(), String> {
        let mut status = 0;
        // SAFETY: open file.
        unsafe { sys::ffplsw(self.fptr, &mut status) };
        self.check(status, "cannot write LONGSTRN")
    }

    /// Writes (updates) a keyword; `Delete` removes it if present.
    pub fn write_key(&self, key: &str, value: &KeyValue, comment: &str) -> Result<(), String> {
        let (k, c) = (c_string(key)?, c_string(comment)?);
        let mut status = 0;
        let f = self.fptr;
        // SAFETY (each call): open file, C strings that outlive the call.
        match value {
            KeyValue::Real(v) => unsafe {
                sys::ffukyd(f, k.as_ptr(), *v, -15, c.as_ptr(), &mut status)
            },
            KeyValue::Integer(v) => unsafe {
                sys::ffukyj(f, k.as_ptr(), *v, c.as_ptr(), &mut status)
            },
            KeyValue::Logical(v) => unsafe {
                sys::ffukyl(f, k.as_ptr(), *v as c_int, c.as_ptr(), &mut status)
            },
            KeyValue::Text(v) => {
                let v = c_string(v)?;
                unsafe { sys::ffukls(f, k.as_ptr(), v.as_ptr(), c.as_ptr(), &mut status) }
            }
            KeyValue::Delete => {
                unsafe { sys::ffdkey(f, k.as_ptr(), &mut status) };
                // A missing keyword is nothing to delete.
                if status == 202 {
                    status = 0;
                }
                status
            }
        };
        self.check(status, &format!("cannot write the keyword {key}"))
    }

    /// Re-reads the current header (after BZERO/BSCALE or table keywords changed).
    pub fn reread_header(&self) -> Result<(), String> {
        let mut status = 0;
        // SAFETY: open file.
        unsafe { sys::ffrdef(self.fptr, &mut status) };
        self.check(status, "cannot update the header")
    }

    /// Reads the region `blc`..=`trc` (1-based, x first) of the current image into `out`.
    ///
    /// # Safety
    /// `out` must point to a writable buffer of (trc - blc + 1) pixels of `datatype`.
    pub unsafe fn read_subset(
        &self,
        blc: [i64; 2],
        trc: [i64; 2],
        datatype: c_int,
        out: *mut c_void,
    ) -> Result<(), String> {
        let mut fpixel: [c_long; 2] = [blc[0] as c_long, blc[1] as c_long];
        let mut lpixel: [c_long; 2] = [trc[0] as c_long, trc[1] as c_long];
        let mut inc: [c_long; 2] = [1, 1];
        let (mut anynul, mut status) = (0, 0);
        // SAFETY: the caller gives a buffer of (trc - blc + 1) pixels of `datatype`.
        unsafe {
            sys::ffgsv(
                self.fptr,
                datatype,
                fpixel.as_mut_ptr(),
                lpixel.as_mut_ptr(),
                inc.as_mut_ptr(),
                std::ptr::null_mut(),
                out,
                &mut anynul,
                &mut status,
            )
        };
        self.check(status, "cannot read the region")
    }

    /// Writes `n` pixels of `datatype` from `data` from the first pixel on.
    ///
    /// # Safety
    /// `data` must point to `n` values of `datatype`.
    pub unsafe fn write_pixels(
        &self,
        datatype: c_int,
        n: i64,
        data: *mut c_void,
    ) -> Result<(), String> {
        let mut status = 0;
        // SAFETY: the caller gives `n` values of `datatype`.
        unsafe { sys::ffppr(self.fptr, datatype, 1, n, data, &mut status) };
        self.check(status, "cannot write the pixels")
    }

    /// Closes the file, reporting what cfitsio could not flush.
    pub fn close(mut self) -> Result<(), String> {
        let mut status = 0;
        // SAFETY: open file, closed once (the pointer is cleared before drop).
        unsafe { sys::ffclos(self.fptr, &mut status) };
        self.fptr = std::ptr::null_mut();
        if status != 0 {
            return Err(format!(
                "{}: cannot close: cfitsio error {status} ({})",
                self.path.display(),
                status_text(status)
            ));
        }
        Ok(())
    }
}

impl Drop for Fits {
    fn drop(&mut self) {
        if !self.fptr.is_null() {
            let mut status = 0;
            // SAFETY: open file, closed once.
            unsafe { sys::ffclos(self.fptr, &mut status) };
        }
    }
}
