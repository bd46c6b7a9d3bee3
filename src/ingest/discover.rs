//! Finding the input files: walking directories, recognising formats.

use std::path::{Path, PathBuf};

use super::rejects::Reject;

/// Formats skyql ingests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// FITS images (`.fits`, `.fit`, `.fts`).
    Fits,
    /// EROS-2 light curves (`.time`).
    Eros,
    /// MACHO light curves (`lc_FIELD.TILE.SEQ.BAND.mjd`).
    Macho,
}

impl InputFormat {
    /// Name stored in the `inputs` table.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Fits => "fits",
            InputFormat::Eros => "eros",
            InputFormat::Macho => "macho",
        }
    }

    /// The format a file name announces.
    pub fn from_name(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if [".fits", ".fit", ".fts"].iter().any(|e| name.ends_with(e)) {
            Some(InputFormat::Fits)
        } else if name.ends_with(".time") {
            Some(InputFormat::Eros)
        } else if name.ends_with(".mjd") {
            Some(InputFormat::Macho)
        } else {
            None
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
}

/// Walks `inputs` (files or directories, recursively). With `forced`, every file found is
/// read in that format; otherwise the file name decides and other files are skipped.
pub fn discover(inputs: &[PathBuf], forced: Option<InputFormat>) -> Discovery {
    let mut d = Discovery::default();
    for input in inputs {
        let abs = absolute(input);
        walk(&abs, forced, true, &mut d);
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

fn walk(path: &Path, forced: Option<InputFormat>, explicit: bool, d: &mut Discovery) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            d.rejects
                .push(Reject::rejected(path, "file", format!("cannot read: {e}")));
            return;
        }
    };
    if meta.is_dir() {
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
                walk(&c, forced, false, d);
            }
        }
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
            "unknown format: name it .fits, .time or .mjd, or give --format",
        )),
        None => d.skipped += 1,
    }
}
