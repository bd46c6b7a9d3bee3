//! Finding the input files: walking directories, recognising formats.

use std::path::{Path, PathBuf};

use super::described::FormatDescription;
use super::rejects::Reject;

/// Formats skyql ingests.
#[derive(Debug, Clone, Copy)]
pub enum InputFormat {
    /// FITS files (`.fits`, `.fit`, `.fts`): images, or a table when the file holds no
    /// image but a table HDU.
    Fits,
    /// Light curves read with a format description (`datasets/formats/`).
    Lightcurve(&'static FormatDescription),
}

impl PartialEq for InputFormat {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl InputFormat {
    /// Name stored in the `inputs` table.
    pub fn name(&self) -> &str {
        match self {
            InputFormat::Fits => "fits",
            InputFormat::Lightcurve(d) => &d.name,
        }
    }

    /// The format a file name announces: FITS, or a shipped description that claims it.
    pub fn from_name(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_string_lossy().to_string();
        if crate::formats::fits::fits_stem(&name).is_some() {
            Some(InputFormat::Fits)
        } else {
            super::described::for_file_name(&name).map(InputFormat::Lightcurve)
        }
    }
}

/// One input file to read.
#[derive(Debug, Clone, PartialEq)]
pub struct InputFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Its format.
    pub format: InputFormat,
    /// Size in bytes.
    pub size: u64,
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Files to ingest, sorted by path.
    pub files: Vec<InputFile>,
    /// Inputs that could not be read at all.
    pub rejects: Vec<Reject>,
    /// Files skipped because their name announces no known format.
    pub skipped: u64,
    /// Those files (the report names the first ones).
    pub skipped_files: Vec<PathBuf>,
}

/// Walks `inputs` (files or directories, recursively). With `forced`, every file found is
/// read in that format; otherwise the file name decides and other files are skipped.
pub fn discover(inputs: &[PathBuf], forced: Option<InputFormat>) -> Discovery {
    let mut d = Discovery::default();
    let mut seen = Seen::new();
    for input in inputs {
        let abs = absolute(input);
        walk_once(&abs, forced, true, &mut d, &mut seen);
    }
    d.files.sort_by(|a, b| a.path.cmp(&b.path));
    d.files.dedup_by(|a, b| a.path == b.path);
    d
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|c| c.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    })
}

/// Directories and files already seen, by (device, inode): a link to a directory above
/// (`loop -> .`) or two links to one directory are walked once.
type Seen = std::collections::HashSet<(u64, u64)>;

fn walk_once(
    path: &Path,
    forced: Option<InputFormat>,
    explicit: bool,
    d: &mut Discovery,
    seen: &mut Seen,
) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            d.rejects
                .push(Reject::rejected(path, "file", format!("cannot read: {e}")));
            return;
        }
    };
    if !seen.insert((meta.dev(), meta.ino())) {
        // Already walked through another link: nothing new.
        return;
    }
    if meta.is_dir() {
        walk_dir(path, forced, d, seen);
        return;
    }
    let kind = meta.file_type();
    if !meta.is_file() {
        let what = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_block_device() || kind.is_char_device() {
            "a device"
        } else {
            "not a regular file"
        };
        d.rejects.push(Reject::rejected(
            path,
            "file",
            format!("{what}, not a regular file: skipped"),
        ));
        return;
    }
    let format = forced.or_else(|| InputFormat::from_name(path));
    match format {
        Some(format) => d.files.push(InputFile {
            path: path.to_path_buf(),
            format,
            size: meta.len(),
        }),
        None if explicit => d.rejects.push(Reject::rejected(
            path,
            "file",
            format!(
                "unknown format: --format auto reads {}; give --format (skyql ingest --detect FILE suggests one)",
                super::described::recognised_names()
            ),
        )),
        None => {
            d.skipped += 1;
            d.skipped_files.push(path.to_path_buf());
        }
    }
}

fn walk_dir(path: &Path, forced: Option<InputFormat>, d: &mut Discovery, seen: &mut Seen) {
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) => {
            d.rejects.push(Reject::rejected(
                path,
                "directory",
                format!("cannot list: {e}"),
            ));
            return;
        }
    };
    let mut children: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => children.push(e.path()),
            Err(e) => d.rejects.push(Reject::rejected(
                path,
                "directory",
                format!("cannot list: {e}"),
            )),
        }
    }
    children.sort();
    for c in children {
        let hidden = c
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden {
            walk_once(&c, forced, false, d, seen);
        }
    }
}
