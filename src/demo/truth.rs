//! What the demo generator knows: exact counts and positions that the tests compare with.

use serde::{Deserialize, Serialize};

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
    }
}
