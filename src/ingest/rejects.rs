//! Rejected inputs: every file, line or HDU that could not be ingested, with the reason.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::catalog::atomic_write;
use crate::terminal_text::escaped_controls as shown;

/// One rejected input, or a warning about an input that was ingested.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    /// The input file or directory.
    pub path: String,
    /// Where in it: `line 12`, `HDU 1`, `file`, `directory`.
    pub location: String,
    /// `rejected` (nothing or part of it was written) or `warning` (written, with a caveat).
    pub severity: Severity,
    /// Why.
    pub reason: String,
}

/// Whether the input was lost or only flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Not written.
    Rejected,
    /// Written; the reason says what is doubtful.
    Warning,
}

impl Reject {
    /// A rejection.
    pub fn rejected(path: &Path, location: impl Into<String>, reason: impl Into<String>) -> Self {
        Reject {
            path: crate::ingest::path_text::path_text(path),
            location: location.into(),
            severity: Severity::Rejected,
            reason: reason.into(),
        }
    }

    /// A warning.
    pub fn warning(path: &Path, location: impl Into<String>, reason: impl Into<String>) -> Self {
        Reject {
            severity: Severity::Warning,
            ..Reject::rejected(path, location, reason)
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Rejected => "rejected",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{sev}: {}: {}: {}",
            shown(&self.path),
            shown(&self.location),
            shown(&self.reason)
        )
    }
}

/// A TSV cell: tabs and line ends as spaces, other control characters escaped.
fn clean(s: &str) -> String {
    shown(&s.replace(['\t', '\n', '\r'], " "))
}

/// Writes the rejects as TSV (`severity path location reason`), atomically.
pub fn write_rejects(path: &Path, rejects: &[Reject]) -> Result<()> {
    let mut text = String::from("severity\tpath\tlocation\treason\n");
    for r in rejects {
        let sev = match r.severity {
            Severity::Rejected => "rejected",
            Severity::Warning => "warning",
        };
        text.push_str(&format!(
            "{sev}\t{}\t{}\t{}\n",
            clean(&r.path),
            clean(&r.location),
            clean(&r.reason)
        ));
    }
    if let Some(parent) = path.parent()
        && !check_rejects_dir(parent)?
    {
        std::fs::create_dir(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    atomic_write(path, text.as_bytes())
}

/// The catalogue's rejects directory, relative to the catalogue.
pub const REJECTS_DIR: &str = "rejects";

/// Whether `dir` (a catalogue's `rejects/`) exists; an error when it is there but is not
/// a real directory (a link would make the ingest write outside the catalogue). An
/// ingest checks it before it starts, and again when it writes there.
pub fn check_rejects_dir(dir: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => Ok(true),
        Ok(_) => anyhow::bail!(
            "{} is not a directory of the catalogue (a link or a file): the rejects are not written there; remove it and ingest again",
            dir.display()
        ),
        Err(_) => Ok(false),
    }
}
