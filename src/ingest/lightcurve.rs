//! Light curves as read from their files (by a format description, `described/`): the
//! points, the header facts and the accounting.

use super::rejects::Reject;
use crate::conventions::StarIdParts;

/// One photometric point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The band letter (`R`, `B`, `I`, `V`, ...).
    pub colour: u8,
    /// MJD.
    pub mjd: f64,
    /// Magnitude (NaN: none, for a flux without a magnitude).
    pub mag: f32,
    /// Magnitude error (NaN: none).
    pub mag_err: f32,
    /// Flux, when the file gives one (NaN: none).
    pub flux: f64,
    /// Flux error (NaN: none).
    pub flux_err: f32,
}

/// Per-colour information from a light-curve header.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ColourHeader {
    /// Mean magnitude given in the header.
    pub mag: Option<f64>,
    /// Reference-image pixel position.
    pub xy: Option<(f64, f64)>,
}

/// Counts of one input, for the accounting `read = written + missing + rejected`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Values read.
    pub read: u64,
    /// Values written.
    pub written: u64,
    /// Values the file marks as no measurement (99.999 for EROS-2, the missing markers of its format description).
    pub missing: u64,
    /// Values rejected.
    pub rejected: u64,
}

impl Counts {
    /// Adds another input's counts.
    pub fn add(&mut self, o: Counts) {
        self.read += o.read;
        self.written += o.written;
        self.missing += o.missing;
        self.rejected += o.rejected;
    }
}

/// A light-curve file rejected whole: why, and its values, all counted as rejected so
/// that the accounting adds up without reading the file again.
#[derive(Debug, Clone)]
pub struct RejectedFile {
    /// Why.
    pub reject: Reject,
    /// `read` = `rejected` = the values the file held.
    pub counts: Counts,
}

impl RejectedFile {
    /// A file rejected after reading `values_read` values.
    pub fn new(reject: Reject, values_read: u64) -> Self {
        RejectedFile {
            reject,
            counts: Counts {
                read: values_read,
                written: 0,
                missing: 0,
                rejected: values_read,
            },
        }
    }
}

/// A parsed light-curve file.
#[derive(Debug, Clone)]
pub struct LightCurve {
    /// Star identifier.
    pub star_id: String,
    /// Survey name.
    pub survey: &'static str,
    /// The format description that read it.
    pub format: &'static str,
    /// Time scale of the dates (`measurements.time_scale`).
    pub time_scale: &'static str,
    /// Field (partition).
    pub field: String,
    /// CCD and quarter, when the identifier carries them.
    pub parts: Option<StarIdParts>,
    /// Colours this file provides (it replaces earlier rows of these colours).
    pub colours: Vec<u8>,
    /// Red and blue header information.
    pub header: [ColourHeader; 2],
    /// Position given by the header (MACHO), degrees.
    pub header_radec: Option<(f64, f64)>,
    /// Valid measurements.
    pub points: Vec<Point>,
    /// Accounting.
    pub counts: Counts,
    /// Rejected lines.
    pub rejects: Vec<Reject>,
    /// The file.
    pub source: String,
}

/// Index of a band in the `[red, blue]` arrays of `stars` (`n_r`/`n_b`, ...): the blue
/// columns summarise the bluer bands (U, B, V, u, g), the red ones every other band (R, I,
/// r, i, z, ...). A survey has at most one band of each kind per star file.
pub fn colour_index(c: u8) -> usize {
    match c {
        b'U' | b'B' | b'V' | b'u' | b'g' => 1,
        _ => 0,
    }
}

/// Magnitudes beyond this are not a measurement (the brightest stars are near -1.5, the
/// faintest sources any survey reaches near 30).
const MAG_RANGE: std::ops::RangeInclusive<f64> = -30.0..=40.0;
/// Dates outside MJD 0 (1858) .. 100000 (2132) are not a survey's.
const MJD_RANGE: std::ops::RangeInclusive<f64> = 0.0..=100_000.0;

/// Why a measurement makes no physical sense, if it does not: a magnitude outside
/// [`MAG_RANGE`], a negative or absurd error, a date outside [`MJD_RANGE`].
pub fn implausible(mjd: f64, mag: f64, mag_err: f64) -> Option<String> {
    if !MJD_RANGE.contains(&mjd) {
        Some(format!(
            "date MJD {mjd} is outside {}..{}",
            MJD_RANGE.start(),
            MJD_RANGE.end()
        ))
    } else if !MAG_RANGE.contains(&mag) {
        Some(format!(
            "magnitude {mag} is outside {}..{}",
            MAG_RANGE.start(),
            MAG_RANGE.end()
        ))
    } else if !(0.0..=100.0).contains(&mag_err) {
        Some(format!("magnitude error {mag_err} is negative or absurd"))
    } else {
        None
    }
}
