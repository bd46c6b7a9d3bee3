//! What a file is, by its content rather than its name: a regular file (never a FIFO, a
//! device or a directory, which would block or mislead a reader), and whether it is
//! compressed. A compressed file named `.fits` would otherwise be expanded whole in memory
//! by cfitsio; a text catalogue compressed under a plain name would be read as binary.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The compressions recognised by their first bytes, with the tool that undoes them.
const MAGICS: &[(&[u8], &str, &str)] = &[
    (&[0x1f, 0x8b], "gzip", "gunzip"),
    (&[0x1f, 0x9d], "compress (.Z)", "uncompress"),
    (b"BZh", "bzip2", "bunzip2"),
    (&[0x28, 0xb5, 0x2f, 0xfd], "zstd", "unzstd"),
    (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz", "unxz"),
    (&[b'P', b'K', 0x03, 0x04], "zip", "unzip"),
];

/// The compression `head` (a file's first bytes) begins with, and the tool that undoes it.
pub fn compression_of(head: &[u8]) -> Option<(&'static str, &'static str)> {
    MAGICS
        .iter()
        .find(|(magic, _, _)| head.starts_with(magic))
        .map(|&(_, name, tool)| (name, tool))
}

/// Opens `path` for reading if it is a regular file, without blocking on a FIFO.
pub fn open_regular(path: &Path) -> Result<File, String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot open: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file (a FIFO, device or directory is never read)".into());
    }
    Ok(file)
}

/// The first bytes of an open file (fewer if it is shorter).
pub fn head(file: &mut File) -> Vec<u8> {
    let mut head = Vec::with_capacity(8);
    let _ = file.by_ref().take(8).read_to_end(&mut head);
    head
}

/// Refuses a file that is not regular or whose content is compressed, before cfitsio
/// opens it: the reason names the compression and the tool that undoes it.
pub fn require_uncompressed_fits(path: &Path) -> Result<(), String> {
    let mut file = open_regular(path)?;
    match compression_of(&head(&mut file)) {
        None => Ok(()),
        Some((name, tool)) => Err(format!(
            "{name}-compressed by its content: FITS files are read uncompressed (never expanded in memory); run `{tool}` on it first"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_are_recognised_and_fits_is_not() {
        assert_eq!(compression_of(&[0x1f, 0x8b, 8, 0]).unwrap().0, "gzip");
        assert_eq!(compression_of(b"BZh91AY").unwrap().0, "bzip2");
        assert_eq!(
            compression_of(&[0x28, 0xb5, 0x2f, 0xfd, 0]).unwrap().0,
            "zstd"
        );
        assert!(compression_of(b"SIMPLE  =                    T").is_none());
        assert!(compression_of(b"").is_none());
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = std::env::temp_dir().join(format!("skyql-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("x.fits");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = open_regular(&fifo).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
