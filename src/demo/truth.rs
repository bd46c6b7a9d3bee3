//! What the demo generator knows: exact counts and positions that the tests compare with.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::sky::Variability;

/// Measurements and stars of one quarter in one colour.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QuarterCount {
    /// Field.
    pub field: String,
    /// 'R' or 'B'.
    pub colour: String,
    /// CCD.
    pub ccd: i32,
    /// Quarter letter.
    pub quarter: String,
    /// Valid measurements written.
    pub n_measurements: u64,
    /// Stars with at least one valid measurement in this colour.
    pub n_stars: u64,
}

/// A microlensing event of the demo.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventTruth {
    /// Star.
    pub star_id: String,
    /// Time of maximum (MJD).
    pub t0_mjd: f64,
    /// Einstein time (days).
    pub te_days: f64,
    /// Impact parameter.
    pub u0: f64,
    /// The source's fraction of the red baseline flux (1: no blend).
    #[serde(default = "unblended")]
    pub blend_r: f64,
    /// The same in blue.
    #[serde(default = "unblended")]
    pub blend_b: f64,
}

fn unblended() -> f64 {
    1.0
}

/// A periodic variable of a generated survey.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PeriodicTruth {
    /// Star.
    pub star_id: String,
    /// Period (days).
    pub period_days: f64,
    /// Semi-amplitude in red (magnitudes; blue is 1.3 times larger).
    pub amplitude_r: f64,
}

impl PeriodicTruth {
    /// The truth of `star_id` when `variability` is periodic.
    pub fn of(star_id: &str, variability: &Variability) -> Option<PeriodicTruth> {
        match *variability {
            Variability::Periodic {
                period, amplitude, ..
            } => Some(PeriodicTruth {
                star_id: star_id.to_string(),
                period_days: period,
                amplitude_r: amplitude,
            }),
            _ => None,
        }
    }
}

impl EventTruth {
    /// The truth of `star_id` when `variability` is a microlensing event.
    pub fn of(star_id: &str, variability: &Variability) -> Option<EventTruth> {
        match *variability {
            Variability::Microlensing {
                t0,
                te,
                u0,
                blend_r,
                blend_b,
            } => Some(EventTruth {
                star_id: star_id.to_string(),
                t0_mjd: t0,
                te_days: te,
                u0,
                blend_r,
                blend_b,
            }),
            _ => None,
        }
    }
}

/// Writes `events.csv` (star_id, t0_mjd, te_days, u0, blend_r, blend_b) and `periodic.csv`
/// (star_id, period_days, amplitude_r) into `dir`, each file durably (fsync, rename), so
/// that `--table events=DIR/events.csv` can join them with the catalogue.
pub fn write_truth_tables(
    dir: &Path,
    events: &[EventTruth],
    periodic: &[PeriodicTruth],
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut text = String::from("star_id,t0_mjd,te_days,u0,blend_r,blend_b\n");
    for e in events {
        text.push_str(&format!(
            "{},{},{},{},{},{}\n",
            e.star_id, e.t0_mjd, e.te_days, e.u0, e.blend_r, e.blend_b
        ));
    }
    write_durably(&dir.join("events.csv"), &text)?;
    let mut text = String::from("star_id,period_days,amplitude_r\n");
    for p in periodic {
        text.push_str(&format!(
            "{},{},{}\n",
            p.star_id, p.period_days, p.amplitude_r
        ));
    }
    write_durably(&dir.join("periodic.csv"), &text)
}

fn write_durably(path: &Path, text: &str) -> Result<()> {
    let partial = path.with_extension("csv.partial");
    let mut file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), path.display()))
}

/// The demo survey's truth, written to `truth/truth.json` beside the raw files.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Truth {
    /// Seed used.
    pub seed: u64,
    /// Fields generated.
    pub fields: Vec<String>,
    /// Per field/colour/CCD/quarter counts.
    pub counts: Vec<QuarterCount>,
    /// Stars (light-curve files) written.
    pub n_stars: u64,
    /// Valid measurements written (both colours).
    pub n_measurements: u64,
    /// Values written as missing (99.999).
    pub n_missing_values: u64,
    /// Reference images written.
    pub n_reference_images: u64,
    /// Current images written.
    pub n_current_images: u64,
    /// Reference quarters without an image: "field colour ccd quarter".
    pub missing_reference: Vec<String>,
    /// Microlensing events.
    pub events: Vec<EventTruth>,
    /// Periodic variables.
    #[serde(default)]
    pub periodic: Vec<PeriodicTruth>,
}

impl Truth {
    /// Adds another part (from one CCD) to this truth.
    pub fn absorb(&mut self, other: Truth) {
        self.counts.extend(other.counts);
        self.n_stars += other.n_stars;
        self.n_measurements += other.n_measurements;
        self.n_missing_values += other.n_missing_values;
        self.n_reference_images += other.n_reference_images;
        self.n_current_images += other.n_current_images;
        self.missing_reference.extend(other.missing_reference);
        self.events.extend(other.events);
        self.periodic.extend(other.periodic);
    }
}
