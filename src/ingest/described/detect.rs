//! `skyql ingest --detect FILE`: which format description reads an unknown file, or why
//! none does.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};

use super::{FormatDescription, read_described, shipped};
use crate::conventions::Conventions;

/// Share of rejected values above which a description is said not to fit.
const MAX_REJECTED: f64 = 0.05;

/// How one description reads the file.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The description.
    pub format: String,
    /// Whether the file name is one the description claims.
    pub name_matches: bool,
    /// Whether it reads the file (few rejected values).
    pub fits: bool,
    /// Values read, and rejected.
    pub read: u64,
    /// Values rejected.
    pub rejected: u64,
    /// What it read, or why it does not fit.
    pub detail: String,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8} {:<4} {}{}",
            self.format,
            if self.fits { "yes" } else { "no" },
            self.detail,
            if self.name_matches {
                " (its file names)"
            } else {
                ""
            }
        )
    }
}

/// Every candidate's verdict on `path`, the best first: fits, then claims the name, then
/// fewer rejected values.
pub fn detect(
    path: &Path,
    extra: &[&'static FormatDescription],
    conventions: &Conventions,
) -> Result<Vec<Verdict>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let candidates = extra.iter().copied().chain(shipped()?.iter());
    let mut out: Vec<Verdict> = candidates
        .map(|d| verdict(d, path, &text, &name, conventions))
        .collect();
    out.sort_by(|a, b| {
        (b.fits, b.name_matches)
            .cmp(&(a.fits, a.name_matches))
            .then(share(a).total_cmp(&share(b)))
    });
    Ok(out)
}

fn share(v: &Verdict) -> f64 {
    if v.read == 0 {
        1.0
    } else {
        v.rejected as f64 / v.read as f64
    }
}

fn verdict(
    d: &'static FormatDescription,
    path: &Path,
    text: &str,
    name: &str,
    conventions: &Conventions,
) -> Verdict {
    let name_matches = d.matches_name(name);
    let (fits, read, rejected, detail) = match read_described(d, path, text, conventions) {
        Err(e) => (
            false,
            e.counts.read,
            e.counts.rejected,
            format!("{}: {}", e.reject.location, e.reject.reason),
        ),
        Ok(lc) => {
            let c = lc.counts;
            let bad = c.read == 0 || c.rejected as f64 > MAX_REJECTED * c.read as f64;
            let first = lc
                .rejects
                .first()
                .map(|r| format!("; first rejected: {} {}", r.location, r.reason))
                .unwrap_or_default();
            let bands: String = lc.colours.iter().map(|c| *c as char).collect();
            (
                !bad,
                c.read,
                c.rejected,
                format!(
                    "star {} (field {}), bands {bands}: {} values read, {} written, {} missing, {} rejected{first}",
                    lc.star_id, lc.field, c.read, c.written, c.missing, c.rejected
                ),
            )
        }
    };
    Verdict {
        format: d.name.clone(),
        name_matches,
        fits,
        read,
        rejected,
        detail,
    }
}
