//! Where image functions write: one output root, never elsewhere.
//!
//! A name is a relative path under the root. Absolute names, `..` components and links
//! that lead out of the root are refused; an existing file is kept unless overwriting was
//! asked for. Files are written under a temporary name and renamed when complete.

use std::path::{Component, Path, PathBuf};

/// The output root and its policy, shared by the image functions of a session.
#[derive(Debug, Clone)]
pub struct ImageOutput {
    /// Directory under which every file is written (created when needed).
    pub root: PathBuf,
    /// Whether an existing file may be replaced.
    pub overwrite: bool,
    /// How many rows are processed at once (threads).
    pub concurrency: usize,
}

impl ImageOutput {
    /// An output root with no overwriting and one thread per core.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ImageOutput {
            root: root.into(),
            overwrite: false,
            concurrency: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        }
    }

    /// The file an image function reads: a relative path names a file under the output
    /// root when there is one (an image written by an earlier query, e.g.
    /// `public/lm001/...`), else a file relative to the current directory.
    pub fn input_path(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_relative() {
            let under_root = self.root.join(p);
            if under_root.exists() {
                return under_root;
            }
        }
        p.to_path_buf()
    }

    /// Resolves `name` under the root, creating its directories. Refuses names that
    /// leave the root and, unless overwriting, existing files.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, String> {
        let rel = Path::new(name);
        if name.is_empty() {
            return Err("empty output name".into());
        }
        for c in rel.components() {
            match c {
                Component::Normal(_) | Component::CurDir => {}
                Component::ParentDir => {
                    return Err(format!("output name '{name}' contains '..'"));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(format!(
                        "output name '{name}' is absolute: names are relative to the output root {}",
                        self.root.display()
                    ));
                }
            }
        }
        std::fs::create_dir_all(&self.root)
            .map_err(|e| format!("cannot create the output root {}: {e}", self.root.display()))?;
        let root = self
            .root
            .canonicalize()
            .map_err(|e| format!("output root {}: {e}", self.root.display()))?;
        let real_parent = self.make_dirs_inside(&root, rel, name)?;
        let path = root.join(rel);
        let file_name = path
            .file_name()
            .ok_or_else(|| format!("output name '{name}' has no file name"))?;
        let target = real_parent.join(file_name);
        if let Ok(meta) = std::fs::symlink_metadata(&target) {
            if meta.file_type().is_symlink() {
                return Err(format!("output name '{name}' is a link: refused"));
            }
            if !self.overwrite {
                return Err(format!(
                    "{} exists (use --overwrite to replace it)",
                    target.display()
                ));
            }
        }
        Ok(target)
    }

    /// Creates the directories of `rel` under `root` one at a time, each checked to be a
    /// real directory inside the root before the next is made in it: a link out of the
    /// root is refused before anything is created beyond it. Returns the file's directory.
    fn make_dirs_inside(&self, root: &Path, rel: &Path, name: &str) -> Result<PathBuf, String> {
        let mut dir = root.to_path_buf();
        let components: Vec<_> = rel.components().collect();
        for c in &components[..components.len().saturating_sub(1)] {
            let Component::Normal(part) = c else {
                continue;
            };
            let next = dir.join(part);
            if std::fs::symlink_metadata(&next).is_err() {
                match std::fs::create_dir(&next) {
                    Ok(()) => {
                        dir = next;
                        continue;
                    }
                    // Another row (rows run in parallel) made it meanwhile: checked below
                    // like any existing entry.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(format!("cannot create {}: {e}", next.display())),
                }
            }
            let real = next
                .canonicalize()
                .map_err(|e| format!("{}: {e}", next.display()))?;
            if !real.starts_with(root) || !real.is_dir() {
                return Err(format!(
                    "output name '{name}' leads out of the output root {} (through a link)",
                    root.display()
                ));
            }
            dir = real;
        }
        Ok(dir)
    }
}

/// Bytes free for an unprivileged writer on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed statvfs the call fills.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut stats) };
    (rc == 0).then(|| stats.f_bavail as u64 * stats.f_frsize as u64)
}

/// `reason`, with the likely cause when the disk holding `path` is (nearly) full: cfitsio
/// reports a refused write only as "error writing to FITS file".
pub fn with_disk_full_hint(reason: String, path: &Path) -> String {
    let dir = path.parent().unwrap_or(path);
    match free_bytes(dir) {
        Some(free) if free < 1 << 20 => format!(
            "{reason}: No space left on device ({free} bytes free on the disk of {})",
            dir.display()
        ),
        _ => reason,
    }
}

static TEMPORARY_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Writes a file through `write` under a temporary name beside `target`, then moves it
/// into place: replacing an existing file when `overwrite`, else failing if one appeared
/// meanwhile (a hard link is atomic: of two rows writing the same name, one wins).
pub fn write_atomically(
    target: &Path,
    overwrite: bool,
    write: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = target.with_file_name(format!(
        ".{name}.partial-{}-{}",
        std::process::id(),
        TEMPORARY_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let result = write(&tmp)
        .map_err(|e| with_disk_full_hint(e, target))
        .and_then(|()| {
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| format!("cannot write {} to disk: {e}", target.display()))?;
            if overwrite {
                std::fs::rename(&tmp, target)
                    .map_err(|e| format!("cannot rename to {}: {e}", target.display()))
            } else {
                std::fs::hard_link(&tmp, target).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        format!(
                            "{} exists (use --overwrite to replace it)",
                            target.display()
                        )
                    } else {
                        format!("cannot create {}: {e}", target.display())
                    }
                })
            }
        });
    let _ = std::fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_under_the_root() {
        let dir = std::env::temp_dir().join(format!("skyql-output-test-{}", std::process::id()));
        let out = ImageOutput::new(dir.join("root"));
        assert!(out.resolve("a/b.fits").is_ok());
        assert!(out.resolve("../b.fits").unwrap_err().contains(".."));
        assert!(out.resolve("/tmp/b.fits").unwrap_err().contains("absolute"));
        std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("root/link")).unwrap();
            assert!(
                out.resolve("link/b.fits")
                    .unwrap_err()
                    .contains("leads out of the output root")
            );
        }
        let target = out.resolve("a/b.fits").unwrap();
        std::fs::write(&target, b"x").unwrap();
        assert!(out.resolve("a/b.fits").unwrap_err().contains("exists"));
        let mut again = out.clone();
        again.overwrite = true;
        assert_eq!(again.resolve("a/b.fits").unwrap(), target);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Rows resolve their names on parallel threads: threads creating the same new
    /// directories at the same moment all succeed.
    #[test]
    fn racing_rows_all_get_their_directory() {
        let dir = std::env::temp_dir().join(format!("skyql-race-test-{}", std::process::id()));
        for round in 0..100 {
            let out = ImageOutput::new(dir.join(format!("root{round}")));
            let start = std::sync::Barrier::new(8);
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..8)
                    .map(|t| {
                        let (out, start) = (&out, &start);
                        scope.spawn(move || {
                            start.wait();
                            out.resolve(&format!("a/b/c/d/{t}.fits"))
                        })
                    })
                    .collect();
                for h in handles {
                    assert!(h.join().unwrap().is_ok(), "round {round}");
                }
            });
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
