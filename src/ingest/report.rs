//! What an ingest did: counts, accounting and rejections, printed by the CLI.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::lightcurve::Counts;
use super::rejects::{Reject, Severity};

/// The outcome of an ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    /// The catalogue directory.
    pub catalog: PathBuf,
    /// Version written.
    pub version: u64,
    /// Input files read.
    pub files_read: u64,
    /// Files rejected whole.
    pub files_rejected: u64,
    /// Files skipped (unknown format inside directories).
    pub files_skipped: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// FITS images written to `images`.
    pub images_written: u64,
    /// Light-curve values.
    pub values: Counts,
    /// Rows of FITS table files (written to tables of their own name).
    pub table_file_rows: Counts,
    /// Rejections and warnings.
    pub rejects: Vec<Reject>,
    /// Rejects file.
    pub rejects_file: PathBuf,
    /// Stars with a position from a reference image.
    pub stars_located: u64,
    /// Stars of this run's fields without any position.
    pub stars_without_position: u64,
    /// Of those, stars whose files give neither a CCD quarter nor a position.
    pub stars_without_geometry: u64,
    /// Of those, stars whose pixel position lies outside their reference image.
    pub stars_outside_reference: u64,
    /// Rows per table after the ingest.
    pub table_rows: BTreeMap<String, u64>,
    /// Wall time.
    pub seconds: f64,
}

impl IngestReport {
    /// Number of rejections (not warnings).
    pub fn rejected_count(&self) -> usize {
        self.rejects
            .iter()
            .filter(|r| r.severity == Severity::Rejected)
            .count()
    }
}

/// The end-of-ingest accounting (standard output).
impl fmt::Display for IngestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "catalogue {} version {} ({:.1} s)",
            self.catalog.display(),
            self.version,
            self.seconds
        )?;
        writeln!(
            f,
            "files: {} read, {} rejected, {} skipped (unknown format); {:.1} MB",
            self.files_read,
            self.files_rejected,
            self.files_skipped,
            self.bytes_read as f64 / 1e6
        )?;
        writeln!(f, "images written: {}", self.images_written)?;
        let v = self.values;
        writeln!(
            f,
            "measurements read: {} = written {} + missing {} + rejected {}",
            v.read, v.written, v.missing, v.rejected
        )?;
        let t = self.table_file_rows;
        if t.read > 0 {
            writeln!(
                f,
                "FITS table rows read: {} = written {} + rejected {}",
                t.read, t.written, t.rejected
            )?;
        }
        writeln!(
            f,
            "stars in the catalogue: {} placed by their reference image, {} without a position",
            self.stars_located, self.stars_without_position
        )?;
        for (t, n) in &self.table_rows {
            writeln!(f, "  {t:<20} {n:>12} rows")?;
        }
        Ok(())
    }
}

impl IngestReport {
    /// The first rejections and warnings and where the rest are (for standard error);
    /// empty when there are none.
    pub fn rejects_summary(&self, shown: usize) -> String {
        let mut out = String::new();
        for reject in self.rejects.iter().take(shown) {
            out.push_str(&format!("{reject}\n"));
        }
        if self.rejects.len() > shown {
            out.push_str(&format!("... and {} more\n", self.rejects.len() - shown));
        }
        if !self.rejects.is_empty() {
            out.push_str(&format!(
                "{} rejected, {} warnings: see {}\n",
                self.rejected_count(),
                self.rejects.len() - self.rejected_count(),
                self.rejects_file.display()
            ));
        }
        out
    }
}
