//! How an input path is written in the catalogue (the ingest runs' inputs, the sources of
//! rows) and in reject reports.

use std::path::Path;

/// A path as stored in the catalogue and shown in reports: itself when it is UTF-8; else
/// each byte that is not UTF-8 written `\xNN` (the rest kept), so that no two names
/// become one.
pub fn path_text(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}
