//! What a reader compares to see that a small file it holds (the access rules, the users
//! file, a provider's keys) has changed, with one `stat`: inode, size and modification
//! time to the nanosecond, so that a rename over the file, or a rewrite within the same
//! second, is seen.

use std::path::Path;

/// A file as it is on disk now; an absent file has a stamp of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp(Option<(u64, u64, i64, i64)>);

impl FileStamp {
    /// The stamp of the file at `path`.
    pub fn of(path: &Path) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp(
            std::fs::metadata(path)
                .ok()
                .map(|m| (m.ino(), m.size(), m.mtime(), m.mtime_nsec())),
        )
    }
}
