//! One writer per catalogue: an OS file lock (`flock`) on `.write.lock` in the catalogue
//! directory. The kernel releases it when the process dies, whatever the way, so there is
//! no stale lock to clean; it holds across PID namespaces (containers) on the same
//! filesystem, where a PID file does not.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Name of the lock file inside a catalogue directory.
pub const LOCK_FILE: &str = ".write.lock";

/// An exclusive lock on a catalogue directory, held until dropped.
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
}

impl WriteLock {
    /// Takes the lock, or fails at once saying that another writer holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create catalogue directory {}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        // SAFETY: flock on a file descriptor this function owns; no memory is shared.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                bail!(
                    "another skyql process is writing the catalogue {} (it holds {}); wait for it to finish and run this again",
                    dir.display(),
                    path.display()
                );
            }
            return Err(err).with_context(|| format!("cannot lock {}", path.display()));
        }
        Ok(WriteLock { _file: file })
    }
}
