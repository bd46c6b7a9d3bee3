//! File names handed to cfitsio for reading. cfitsio reads its own syntax in a name
//! (`file.fits[1]`, `!file`, `-` for standard input, `mem://`, `+2`), and the `fitsio`
//! crate panics on a name that is not UTF-8. A file to read is therefore opened here and
//! given to cfitsio as `/proc/self/fd/N`, which is exactly that file whatever its name.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A name cfitsio opens as the file at a path; keeps the file open while it lives.
#[derive(Debug)]
pub struct CfitsioName {
    name: String,
    _file: Option<File>,
}

impl CfitsioName {
    /// The name for `path` (opened here for reading).
    pub fn for_reading(path: &Path) -> Result<Self, String> {
        let plain = path.to_str().filter(|s| {
            !s.starts_with('-')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._/=,-@%:".contains(&b))
                && !s.contains("://")
        });
        if let Some(name) = plain {
            return Ok(CfitsioName {
                name: name.to_string(),
                _file: None,
            });
        }
        let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        Ok(CfitsioName {
            name: format!("/proc/self/fd/{}", file.as_raw_fd()),
            _file: Some(file),
        })
    }

    /// The name to give cfitsio.
    pub fn as_str(&self) -> &str {
        &self.name
    }
}
