//! The service's own directory (`jobs_dir`): asynchronous jobs (their records and
//! results) and the spilled parts of large synchronous results.
//!
//! The service owns only what it wrote. A directory is taken only if it is new, empty, or
//! marked by an earlier skyql service (the file [`MARKER`]); a directory holding anything
//! else is refused at start. One service at a time: the marker is locked (`flock`) for
//! the life of the process. At a stop, the service removes only names it makes
//! (job records, results, spilled results); the directory itself goes only when the
//! service created it for this process alone (the default, under the system's temporary
//! directory) and nothing else is in it.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::spool::SPOOL_PREFIX;
use crate::catalog::durable::{is_temporary_name, sync_dir};

/// The file that marks a directory as a skyql service's jobs directory.
pub const MARKER: &str = ".skyql-jobs";

/// A claimed jobs directory, locked while this value lives.
pub struct JobsDir {
    path: PathBuf,
    /// Whether the directory is this process's own temporary one (removed at the stop).
    ephemeral: bool,
    /// The open marker, holding the lock.
    _lock: File,
}

/// Whether `name` is one the service makes in its jobs directory.
pub fn is_service_name(name: &str) -> bool {
    name == MARKER
        || name.starts_with(SPOOL_PREFIX)
        || name.starts_with("job-")
        || name.starts_with(super::soda::CACHE_PREFIX)
        || is_temporary_name(name)
}

impl JobsDir {
    /// Claims `path` (a configured directory kept across restarts, or with `ephemeral` the
    /// process's own temporary one).
    pub fn claim(path: &Path, ephemeral: bool) -> Result<JobsDir> {
        if ephemeral {
            // The temporary directories of services killed before they could remove them.
            if let Some(parent) = path.parent() {
                crate::object_stores::scratch_dir::remove_orphans(parent, "service", Some(MARKER));
            }
        }
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!(
                "jobs_dir {} is not a directory: give a directory for the service's jobs",
                path.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(path)
                    .with_context(|| format!("cannot create jobs_dir {}", path.display()))?;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot open jobs_dir {}", path.display()));
            }
        }
        let marker = path.join(MARKER);
        if !marker.exists() {
            let foreign = std::fs::read_dir(path)
                .with_context(|| format!("cannot read jobs_dir {}", path.display()))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .next();
            if let Some(name) = foreign {
                bail!(
                    "jobs_dir {} already holds files that skyql did not write ({name}, ...): \
                     give a new or empty directory, or a subdirectory of this one",
                    path.display()
                );
            }
            std::fs::write(&marker, "a skyql service's jobs directory (skyql serve)\n")
                .with_context(|| format!("cannot write {}", marker.display()))?;
            sync_dir(path)?;
        }
        let lock =
            File::open(&marker).with_context(|| format!("cannot open {}", marker.display()))?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            bail!(
                "jobs_dir {} is used by another running skyql service: give each service its own",
                path.display()
            );
        }
        let dir = JobsDir {
            path: path.to_path_buf(),
            ephemeral,
            _lock: lock,
        };
        dir.remove_leftovers();
        Ok(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Spilled results and temporary names a crash left (never a job or its result).
    fn remove_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.path) else {
            return;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(SPOOL_PREFIX) || is_temporary_name(&name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// At the stop: leftovers go; a process's own temporary directory goes with its jobs
    /// (only the names the service makes, then the directory if nothing else is in it).
    pub fn close(&self) {
        self.remove_leftovers();
        if !self.ephemeral {
            return;
        }
        if let Ok(entries) = std::fs::read_dir(&self.path) {
            for e in entries.filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().to_string();
                let is_file = e.file_type().is_ok_and(|t| t.is_file());
                if is_file && is_service_name(&name) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_with_foreign_files_is_refused_and_left_as_it_was() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
        let e = JobsDir::claim(tmp.path(), false).err().unwrap();
        assert!(format!("{e:#}").contains("notes.txt"), "{e:#}");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn one_service_at_a_time_and_its_own_names_only_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("jobs");
        let claimed = JobsDir::claim(&dir, true).unwrap();
        assert!(
            JobsDir::claim(&dir, true).is_err(),
            "a second claim is refused"
        );
        std::fs::write(dir.join("job-abc.json"), "{}").unwrap();
        std::fs::write(dir.join("foreign.txt"), "someone's").unwrap();
        claimed.close();
        assert!(dir.join("foreign.txt").exists());
        assert!(!dir.join("job-abc.json").exists());
        // The marker is gone with the ephemeral directory's own names; the foreign file
        // keeps the directory.
        assert!(dir.is_dir());
    }
}
