//! The demo survey's sky: field plans, epochs, stars and their light curves.

use std::collections::{BTreeSet, HashSet};

use super::DemoConfig;
use super::rng::Rng;
use skyql_udfs::science::paczynski::magnification;
use skyql_udfs::time::mjd_to_iso;

/// LMC bar centre, around which the demo fields are laid out.
const LMC_CENTRE: (f64, f64) = (80.894, -69.756);

/// An exposure of a field (both cameras, all CCDs at once).
#[derive(Debug, Clone)]
pub struct Epoch {
    /// Modified Julian Date at mid-exposure.
    pub mjd: f64,
    /// Exposure token used in the file names.
    pub token: String,
    /// Airmass.
    pub airmass: f64,
    /// Exposure time in seconds.
    pub exptime: f64,
    /// Pointing offset in pixels (x, y) of this exposure.
    pub jitter: (f64, f64),
}

/// Everything decided once per field, before the per-CCD work runs in parallel.
#[derive(Debug, Clone)]
pub struct FieldPlan {
    /// Field name (`lm055`).
    pub name: String,
    /// Index of the field in the configuration.
    pub index: u64,
    /// Tangent point (ra, dec) in degrees.
    pub centre: (f64, f64),
    /// Reference quarters without an image: (colour, ccd, quarter).
    pub missing_reference: BTreeSet<(String, i32, String)>,
    /// Exposures, by increasing MJD.
    pub epochs: Vec<Epoch>,
    /// Token of the reference images.
    pub reference_token: String,
    /// MJD of the reference images.
    pub reference_mjd: f64,
    /// Microlensing events: (ccd, quarter, star index within the quarter).
    pub events: Vec<(i32, String, usize)>,
}

/// Field centre from its number: a grid over the LMC, 1.4 x 0.7 deg steps.
pub fn field_centre(number: u32) -> (f64, f64) {
    let i = number.saturating_sub(1);
    let (col, row) = ((i % 11) as f64, (i / 11) as f64);
    let dec = LMC_CENTRE.1 + 2.8 - row * 0.7;
    let ra = LMC_CENTRE.0 + (col - 5.0) * 1.4 / dec.to_radians().cos();
    (ra, dec)
}

/// Plans a field: epochs, missing reference quarters, events.
pub fn plan_field(
    config: &DemoConfig,
    index: u64,
    name: &str,
    reference_images: u32,
    quarters: &[String],
) -> FieldPlan {
    let number: u32 = name
        .trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .parse()
        .unwrap_or(1);
    let mut rng = Rng::new(config.seed, &[index, 0xF1E1D]);
    let ccds = config.ccds as i32;
    // Reference quarters: 2 cameras x CCDs x 4 quarters when complete; the image-count
    // table says how many exist, the rest are missing (chosen at random).
    let complete = 2 * ccds as u32 * quarters.len() as u32;
    let full_scale_missing = 64u32.saturating_sub(reference_images);
    let missing_n = full_scale_missing.min(complete);
    let mut all: Vec<(String, i32, String)> = Vec::new();
    for colour in ["R", "B"] {
        for ccd in 0..ccds {
            for q in quarters {
                all.push((colour.to_string(), ccd, q.clone()));
            }
        }
    }
    rng.shuffle(&mut all);
    let missing_reference = all.into_iter().take(missing_n as usize).collect();

    // Epochs: EROS-2 ran from July 1996 to February 2003 (JD 2450270 to 2452700).
    let start = 50270.0;
    let end = 52700.0;
    let mut tokens = HashSet::new();
    let mut epochs: Vec<Epoch> = (0..config.epochs)
        .map(|_| {
            // LMC seasons: fewer nights around the southern summer solstice gap.
            let mut mjd;
            loop {
                mjd = rng.range(start, end).floor() + rng.range(0.02, 0.35);
                let day_of_year = (mjd - 50083.0).rem_euclid(365.25);
                if !(150.0..200.0).contains(&day_of_year) || rng.uniform() < 0.3 {
                    break;
                }
            }
            (mjd * 1e5).round() / 1e5
        })
        .collect::<Vec<f64>>()
        .into_iter()
        .map(|mjd| Epoch {
            mjd,
            token: String::new(),
            airmass: rng.range(1.25, 2.1),
            exptime: if rng.uniform() < 0.7 { 300.0 } else { 180.0 },
            jitter: (rng.normal() * 1.5, rng.normal() * 1.5),
        })
        .collect();
    epochs.sort_by(|a, b| a.mjd.total_cmp(&b.mjd));
    for (i, e) in epochs.iter_mut().enumerate() {
        e.token = unique_token(e.mjd, i, &mut tokens);
    }
    let reference_mjd = 50300.0 + rng.range(0.05, 0.3);
    let reference_token = unique_token(reference_mjd, 9999, &mut tokens);

    let mut events = Vec::new();
    for k in 0..config.events_per_field {
        let ccd = ((k * 5 + index as u32 * 3) % config.ccds) as i32;
        let q = quarters[rng.below(quarters.len())].clone();
        events.push((ccd, q, k as usize));
    }
    FieldPlan {
        name: name.to_string(),
        index,
        centre: field_centre(number),
        missing_reference,
        epochs,
        reference_token,
        reference_mjd,
        events,
    }
}

/// An EROS-style exposure token: year digit, month letter, four digits.
fn unique_token(mjd: f64, index: usize, used: &mut HashSet<String>) -> String {
    let iso = mjd_to_iso(mjd);
    let year: u32 = iso[..4].parse().unwrap_or(1996);
    let month: u8 = iso[5..7].parse().unwrap_or(1);
    let day: usize = iso[8..10].parse().unwrap_or(1);
    let mut seq = (day * 300 + index * 7) % 10000;
    loop {
        let token = format!("{}{}{:04}", year % 10, (b'a' + month - 1) as char, seq);
        if used.insert(token.clone()) {
            return token;
        }
        seq = (seq + 1) % 10000;
    }
}

/// How a star's brightness varies.
#[derive(Debug, Clone, PartialEq)]
pub enum Variability {
    /// Constant star.
    Constant,
    /// Periodic variable: period (days), red amplitude (mag), phase.
    Periodic {
        /// Period in days.
        period: f64,
        /// Semi-amplitude in red, magnitudes (blue is 1.3 times larger).
        amplitude: f64,
        /// Phase in cycles.
        phase: f64,
    },
    /// Microlensing (Paczynski, achromatic, blended).
    Microlensing {
        /// Time of maximum (MJD).
        t0: f64,
        /// Einstein time in days.
        te: f64,
        /// Impact parameter in Einstein radii.
        u0: f64,
        /// The source's fraction of the baseline flux in red (1: no blend).
        blend_r: f64,
        /// The same in blue.
        blend_b: f64,
    },
}

impl Variability {
    /// A short description, written in the light-curve header.
    pub fn describe(&self) -> String {
        match self {
            Variability::Constant => "Constant star.".into(),
            Variability::Periodic {
                period, amplitude, ..
            } => {
                format!("Periodic variable: P = {period:.4} d, amplitude {amplitude:.2} mag.")
            }
            Variability::Microlensing {
                t0,
                te,
                u0,
                blend_r,
                blend_b,
            } => format!(
                "Microlensing event: t0 = MJD {t0:.2}, tE = {te:.1} d, u0 = {u0:.3}, source flux fraction {blend_r:.2} (R), {blend_b:.2} (B)."
            ),
        }
    }

    /// Class name used in the truth files.
    pub fn class(&self) -> &'static str {
        match self {
            Variability::Constant => "constant",
            Variability::Periodic { .. } => "periodic",
            Variability::Microlensing { .. } => "microlensing",
        }
    }

    /// Magnitude offset at `mjd` for colour 'R' or 'B'.
    pub fn delta_mag(&self, mjd: f64, colour: &str) -> f64 {
        match self {
            Variability::Constant => 0.0,
            Variability::Periodic {
                period,
                amplitude,
                phase,
            } => {
                let a = if colour == "B" {
                    amplitude * 1.3
                } else {
                    *amplitude
                };
                let x = 2.0 * std::f64::consts::PI * (mjd / period + phase);
                a * (x.sin() + 0.3 * (2.0 * x).sin()) / 1.15
            }
            Variability::Microlensing {
                t0,
                te,
                u0,
                blend_r,
                blend_b,
            } => {
                let tau = (mjd - t0) / te;
                let amp = magnification((u0 * u0 + tau * tau).sqrt());
                let fs = if colour == "B" { blend_b } else { blend_r };
                -2.5 * (fs * amp + 1.0 - fs).log10()
            }
        }
    }
}

/// One demo star.
#[derive(Debug, Clone)]
pub struct Star {
    /// EROS-style identifier.
    pub id: String,
    /// Quarter letter.
    pub quarter: String,
    /// Pixel position on the red reference quarter (2 decimals, as written).
    pub xy_r: (f64, f64),
    /// Pixel position on the blue reference quarter (2 decimals, as written).
    pub xy_b: (f64, f64),
    /// Sky position in degrees, from the red position.
    pub radec: (f64, f64),
    /// Mean red magnitude.
    pub mag_r: f64,
    /// Mean blue magnitude.
    pub mag_b: f64,
    /// Variability.
    pub variability: Variability,
}

impl Star {
    /// Magnitude at `mjd` in `colour`.
    pub fn mag_at(&self, mjd: f64, colour: &str) -> f64 {
        let base = if colour == "B" {
            self.mag_b
        } else {
            self.mag_r
        };
        base + self.variability.delta_mag(mjd, colour)
    }
}

/// Photometric error of one measurement (EROS-like: a floor plus photon noise).
pub fn mag_error(mag: f64) -> f64 {
    (0.008 + 0.04 * 10f64.powf(0.4 * (mag - 19.5))).min(0.8)
}

/// Where and how long the microlensing event of a star may be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventWindow {
    /// First and last MJD of the light curve (t0 is drawn 200 days inside).
    pub span: (f64, f64),
    /// Range of Einstein times (days).
    pub te: (f64, f64),
}

/// Picks a variability class for a star: the event of `event` when given, else a
/// periodic variable with probability `periodic_fraction`, else a constant star.
pub fn draw_variability(
    rng: &mut Rng,
    event: Option<EventWindow>,
    periodic_fraction: f64,
) -> Variability {
    if let Some(w) = event {
        let t0 = rng.range(w.span.0 + 200.0, w.span.1 - 200.0);
        let te = rng.range(w.te.0, w.te.1);
        let u0 = rng.range(0.05, 0.4);
        // Blending from a generator of the event's own (no draw taken from `rng`, so the
        // stars that follow are those of a survey without blending).
        let mut own = Rng::new(t0.to_bits(), &[0xB1E4D]);
        let blend_r = own.range(0.4, 1.0);
        let blend_b = (blend_r + own.range(-0.15, 0.15)).clamp(0.3, 1.0);
        return Variability::Microlensing {
            t0,
            te,
            u0,
            blend_r,
            blend_b,
        };
    }
    if rng.uniform() < periodic_fraction {
        Variability::Periodic {
            period: 10f64.powf(rng.range(-0.4, 1.8)),
            amplitude: rng.range(0.1, 0.6),
            phase: rng.uniform(),
        }
    } else {
        Variability::Constant
    }
}
