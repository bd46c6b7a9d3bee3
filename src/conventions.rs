//! Survey conventions: file-name and star-id patterns, camera colours, CCD geometry.
//!
//! The EROS-2 table (`datasets/eros2/conventions.toml`) is compiled in; another table
//! can be read from a file. Names that do not match the patterns are not errors: the
//! parsed fields are then null.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use regex::Regex;
use serde::Deserialize;

/// The EROS-2 conventions, as shipped in `datasets/eros2/conventions.toml`.
pub const EROS2_TOML: &str = include_str!("../datasets/eros2/conventions.toml");

/// The per-CCD electronics of EROS-2 (`datasets/eros2/ccd_electronics.csv`).
pub const EROS2_ELECTRONICS_CSV: &str = include_str!("../datasets/eros2/ccd_electronics.csv");

#[derive(Debug, Deserialize)]
struct RawConventions {
    survey: String,
    image_name_pattern: String,
    star_id_pattern: String,
    cameras: BTreeMap<String, String>,
    ccd: CcdGeometry,
    quarters: BTreeMap<String, [u32; 2]>,
    missing: MissingValues,
}

/// The mosaic geometry of one camera.
#[derive(Debug, Clone, Deserialize)]
pub struct CcdGeometry {
    /// CCD side in pixels.
    pub size_pix: u32,
    /// Pixel size in micrometres.
    pub pixel_um: f64,
    /// Pixel scale in arcsec.
    pub pixel_arcsec: f64,
    /// CCDs per row of the mosaic.
    pub columns: u32,
    /// Rows of the mosaic.
    pub rows: u32,
    /// Quarter letter of whole-CCD images.
    pub whole_ccd_quarter: String,
}

/// Markers of a missing measurement in text light curves.
#[derive(Debug, Clone, Deserialize)]
pub struct MissingValues {
    /// Magnitude marker (99.999 for EROS).
    pub mag: f64,
    /// Error marker (9.999 for EROS).
    pub mag_err: f64,
}

/// A file-name or star-id pattern, compiled with ASCII classes (`\d` is `[0-9]`, `\w` is
/// `[0-9A-Za-z_]`: survey names and identifiers are ASCII): compiling the Unicode classes
/// showed in the profile of every query that opens a catalogue (docs/BENCHMARKS.md); a
/// pattern that needs Unicode mode (`.` may not match part of a character) gets it.
fn compile_pattern(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .unicode(false)
        .build()
        .or_else(|_| Regex::new(pattern))
}

/// A survey's conventions, compiled.
#[derive(Debug, Clone)]
pub struct Conventions {
    /// Survey name written in the catalogue.
    pub survey: String,
    image_name: Regex,
    star_id: Regex,
    cameras: BTreeMap<String, String>,
    /// Mosaic geometry.
    pub ccd: CcdGeometry,
    /// Quarter letter -> (column, row) inside a CCD.
    pub quarters: BTreeMap<String, [u32; 2]>,
    /// Missing-value markers.
    pub missing: MissingValues,
    /// The TOML text these conventions were read from (kept with every catalogue version).
    pub source: String,
}

/// The fields read from an image file name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageName {
    /// Survey field (`lm055`).
    pub field: Option<String>,
    /// Camera digit.
    pub camera: Option<i32>,
    /// Colour of the camera ('R' or 'B').
    pub colour: Option<String>,
    /// CCD number.
    pub ccd: Option<i32>,
    /// Quarter letter (k, l, m, n; t for a whole CCD).
    pub quarter: Option<String>,
    /// Undocumented letter, kept as written.
    pub letter: Option<String>,
    /// Image code: d reference, e current.
    pub code: Option<String>,
    /// Exposure token, kept as written.
    pub exposure: Option<String>,
}

/// The fields read from a star identifier.
#[derive(Debug, Clone, PartialEq)]
pub struct StarIdParts {
    /// Survey field.
    pub field: String,
    /// CCD number.
    pub ccd: i32,
    /// Quarter letter.
    pub quarter: String,
    /// Running number within the quarter.
    pub number: i64,
}

impl Conventions {
    /// The compiled-in EROS-2 conventions (`datasets/eros2/conventions.toml`; the tests
    /// below check that it parses).
    pub fn eros2() -> Result<Self> {
        Self::from_toml(EROS2_TOML).context("the compiled-in EROS-2 conventions")
    }

    /// Reads conventions from TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        let raw: RawConventions = toml::from_str(text).context("invalid conventions table")?;
        Ok(Conventions {
            survey: raw.survey,
            image_name: compile_pattern(&raw.image_name_pattern)
                .context("invalid image_name_pattern")?,
            star_id: compile_pattern(&raw.star_id_pattern).context("invalid star_id_pattern")?,
            cameras: raw.cameras,
            ccd: raw.ccd,
            quarters: raw.quarters,
            missing: raw.missing,
            source: text.to_string(),
        })
    }

    /// Reads conventions from a TOML file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read conventions file {}", path.display()))?;
        Self::from_toml(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses an image file name; unmatched names give all fields null.
    pub fn parse_image_name(&self, file_name: &str) -> ImageName {
        let Some(c) = self.image_name.captures(file_name) else {
            return ImageName::default();
        };
        let get = |n: &str| c.name(n).map(|m| m.as_str().to_string());
        let camera = get("camera");
        ImageName {
            field: get("field"),
            camera: camera.as_deref().and_then(|s| s.parse().ok()),
            colour: camera.as_ref().and_then(|d| self.cameras.get(d).cloned()),
            ccd: get("ccd").and_then(|s| s.parse().ok()),
            quarter: get("quarter"),
            letter: get("letter"),
            code: get("code"),
            exposure: get("exposure"),
        }
    }

    /// Parses a star identifier; `None` when it does not follow the convention.
    pub fn parse_star_id(&self, star_id: &str) -> Option<StarIdParts> {
        let c = self.star_id.captures(star_id)?;
        Some(StarIdParts {
            field: c.name("field")?.as_str().to_string(),
            ccd: c.name("ccd")?.as_str().parse().ok()?,
            quarter: c.name("quarter")?.as_str().to_string(),
            number: c.name("number")?.as_str().parse().ok()?,
        })
    }

    /// The camera digit of a colour.
    pub fn camera_of_colour(&self, colour: &str) -> Option<i32> {
        self.cameras
            .iter()
            .find(|(_, c)| c.as_str() == colour)
            .and_then(|(d, _)| d.parse().ok())
    }

    /// Centre of a quarter in CCD units from the mosaic centre (x, y), for geometry tables.
    pub fn quarter_offset(&self, ccd: i32, quarter: &str) -> Option<(f64, f64)> {
        let [qx, qy] = *self.quarters.get(quarter)?;
        let cols = self.ccd.columns as i32;
        let col = ccd % cols;
        let row = ccd / cols;
        let x = col as f64 + 0.25 + 0.5 * qx as f64 - self.ccd.columns as f64 / 2.0;
        let y = row as f64 + 0.25 + 0.5 * qy as f64 - self.ccd.rows as f64 / 2.0;
        Some((x, y))
    }

    /// The quarter of `ccd` whose centre is closest to the mosaic centre.
    pub fn central_quarter(&self, ccd: i32) -> Option<String> {
        self.quarters
            .keys()
            .filter_map(|q| self.quarter_offset(ccd, q).map(|(x, y)| (q, x * x + y * y)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(q, _)| q.clone())
    }

    /// Number of CCDs per camera.
    pub fn ccd_count(&self) -> i32 {
        (self.ccd.columns * self.ccd.rows) as i32
    }
}

/// Gain, offset, noise and saturation of one CCD (signal model S = N/g + O).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CcdElectronics {
    /// Gain in electrons per ADU.
    pub gain: f64,
    /// Offset (bias) in ADU.
    pub offset: f64,
    /// Readout noise in ADU.
    pub readout_noise: f64,
    /// Saturation in ADU.
    pub saturation: f64,
}

/// The EROS-2 electronics table, keyed by (camera, ccd).
pub fn eros2_electronics() -> BTreeMap<(i32, i32), CcdElectronics> {
    let mut table = BTreeMap::new();
    for line in EROS2_ELECTRONICS_CSV.lines().skip(1) {
        let v: Vec<&str> = line.split(',').collect();
        if v.len() != 6 {
            continue;
        }
        let num = |i: usize| v[i].trim().parse::<f64>().unwrap_or(f64::NAN);
        table.insert(
            (num(0) as i32, num(1) as i32),
            CcdElectronics {
                gain: num(2),
                offset: num(3),
                readout_noise: num(4),
                saturation: num(5),
            },
        );
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_listing_names() {
        let c = Conventions::eros2().unwrap();
        let n = c.parse_image_name("lm05516kbd6a3150.fits");
        assert_eq!(n.field.as_deref(), Some("lm055"));
        assert_eq!(n.camera, Some(1));
        assert_eq!(n.colour.as_deref(), Some("R"));
        assert_eq!(n.ccd, Some(6));
        assert_eq!(n.quarter.as_deref(), Some("k"));
        assert_eq!(n.letter.as_deref(), Some("b"));
        assert_eq!(n.code.as_deref(), Some("d"));
        assert_eq!(n.exposure.as_deref(), Some("6a3150"));
        let e = c.parse_image_name("lm05516tbe6j1370.fits");
        assert_eq!(e.quarter.as_deref(), Some("t"));
        assert_eq!(e.code.as_deref(), Some("e"));
        assert_eq!(c.parse_image_name("sip-wcs.fits"), ImageName::default());
    }

    #[test]
    fn parses_star_ids() {
        let c = Conventions::eros2().unwrap();
        let s = c.parse_star_id("lm0010n22323").unwrap();
        assert_eq!(
            (s.field.as_str(), s.ccd, s.quarter.as_str(), s.number),
            ("lm001", 0, "n", 22323)
        );
        assert!(c.parse_star_id("2.4907.2086").is_none());
        // ASCII classes: an Arabic-Indic digit is not a CCD number.
        assert!(c.parse_star_id("lm001\u{0660}n22323").is_none());
    }

    #[test]
    fn patterns_that_need_unicode_mode_still_compile() {
        let any = compile_pattern(r"^(?P<field>..)\.fits$").unwrap();
        assert!(any.is_match("é1.fits"));
        let ascii = compile_pattern(r"^\d+$").unwrap();
        assert!(ascii.is_match("2048") && !ascii.is_match("\u{0662}"));
    }

    #[test]
    fn central_quarter_faces_the_mosaic_centre() {
        let c = Conventions::eros2().unwrap();
        // CCD 1 (column 1, row 0): the mosaic centre is up and to the right.
        assert_eq!(c.central_quarter(1).as_deref(), Some("n"));
        // CCD 6 (column 2, row 1): down and to the left.
        assert_eq!(c.central_quarter(6).as_deref(), Some("k"));
        assert_eq!(eros2_electronics().len(), 16);
    }
}
