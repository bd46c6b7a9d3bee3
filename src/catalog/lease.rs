//! Readers' leases on a catalogue version: a long-lived reader (the service, a shell)
//! holds a shared `flock` on the directory of the version it reads, and the writers never
//! remove a version directory that someone holds. A query that started on version N
//! therefore finishes on N even when an ingest publishes N+1 meanwhile; the old
//! directory is removed by the first write after its last reader let it go (or by
//! `skyql catalog repair`).
//!
//! The lock is the kernel's: it goes with the process, however it ends, so a lease never
//! outlives its reader.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{Catalog, Manifest};

/// A shared lock on a version directory, held until dropped.
#[derive(Debug)]
pub struct VersionLease {
    /// The version directory, held with a shared lock (none for a remote catalogue, whose
    /// writers keep the previous version for the readers still on it).
    _dir: Option<File>,
}

/// Most attempts to lease the version the manifest names while writers publish others.
const ATTEMPTS: usize = 20;

impl VersionLease {
    /// Opens the catalogue at `dir` on the version its manifest names, leased: that
    /// version's directory stays until the lease is dropped.
    pub fn open(dir: &Path) -> Result<(Catalog, VersionLease)> {
        if crate::object_stores::is_remote(dir) {
            return Ok((Catalog::open(dir)?, VersionLease { _dir: None }));
        }
        for _ in 0..ATTEMPTS {
            let catalog = Catalog::open(dir)?;
            let version_dir = catalog.version_dir();
            let Ok(file) = File::open(&version_dir) else {
                // Removed between the manifest's read and this open: a newer version is
                // published; read the manifest again.
                continue;
            };
            // SAFETY: flock on a descriptor this function owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } != 0 {
                // A writer is removing it: a newer version is published.
                std::thread::sleep(std::time::Duration::from_millis(5));
                continue;
            }
            // Still the directory the manifest names, not one removed after the open.
            let held = file.metadata()?;
            let named = Manifest::read(dir)?.map(|m| m.version_dir);
            let same = std::fs::metadata(&version_dir)
                .is_ok_and(|m| m.ino() == held.ino() && m.dev() == held.dev());
            if same && named.as_deref() == Some(catalog.manifest.version_dir.as_str()) {
                return Ok((catalog, VersionLease { _dir: Some(file) }));
            }
        }
        bail!(
            "the catalogue {} changed {ATTEMPTS} times while it was being opened; try again",
            dir.display()
        )
    }
}

/// Removes the version directory `path` unless a reader holds a lease on it; whether it
/// was removed. The exclusive lock is held during the removal, so no reader can lease a
/// directory half removed.
pub fn remove_unleased(path: &Path) -> Result<bool> {
    let file =
        File::open(path).with_context(|| format!("cannot open version {}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Ok(false);
    }
    std::fs::remove_dir_all(path)
        .with_context(|| format!("cannot remove the previous version {}", path.display()))?;
    Ok(true)
}

/// What identifies a catalogue's manifest as it is now: for a local one, its file's
/// inode, size and modification time (one `stat`: every write renames a new manifest over
/// the old); for a remote one, its ETag (one `HEAD`). A long-lived reader (the service, a
/// shell) knows by comparing stamps that a version was published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestStamp {
    /// A local manifest file.
    Local {
        /// Its inode.
        inode: u64,
        /// Its size.
        size: u64,
        /// Its modification time.
        modified_ns: i64,
    },
    /// A remote manifest's ETag (or size and time).
    Remote(String),
}

impl ManifestStamp {
    /// The stamp of the manifest of the catalogue at `dir` (a local one; none for a
    /// remote one, see [`ManifestStamp::now`]); none without a manifest.
    pub fn of(dir: &Path) -> Option<ManifestStamp> {
        if crate::object_stores::is_remote(dir) {
            return None;
        }
        let m = std::fs::metadata(dir.join(super::manifest::MANIFEST_FILE)).ok()?;
        Some(ManifestStamp::Local {
            inode: m.ino(),
            size: m.size(),
            modified_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        })
    }

    /// The stamp a catalogue is opened with: for a remote one, that of the manifest it
    /// read (no request); for a local one, `before`, read before its manifest (a write
    /// between the two is then seen as a change at the next comparison).
    pub fn opened(catalog: &Catalog, before: Option<ManifestStamp>) -> Option<ManifestStamp> {
        match &catalog.remote {
            Some(remote) => remote.stamp.clone().map(ManifestStamp::Remote),
            None => before,
        }
    }

    /// The stamp of the manifest of the catalogue at `dir`, local or remote.
    pub async fn now(dir: &Path) -> Option<ManifestStamp> {
        match crate::object_stores::remote_url(dir) {
            Some(url) => super::remote::manifest_stamp(&url)
                .await
                .map(ManifestStamp::Remote),
            None => Self::of(dir),
        }
    }
}
