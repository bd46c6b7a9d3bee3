//! Light-curve files (EROS-2 `.time`, MACHO `.mjd`) to measurements and star headers.

use std::path::Path;

use super::rejects::Reject;
use crate::conventions::{Conventions, StarIdParts};
use skyql_udfs::time::eros_date_to_mjd;

/// One photometric point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// `b'R'` or `b'B'`.
    pub colour: u8,
    /// MJD.
    pub mjd: f64,
    /// Magnitude.
    pub mag: f32,
    /// Magnitude error.
    pub mag_err: f32,
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
    /// Values marked missing (99.999).
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

/// Index of a colour in `[R, B]` arrays.
pub fn colour_index(c: u8) -> usize {
    if c == b'B' { 1 } else { 0 }
}

fn parse_f64(token: &str) -> Option<f64> {
    token.parse::<f64>().ok().filter(|v| v.is_finite())
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

/// The measurements of a light-curve file as its lines are read, with the accounting.
struct Collected<'a> {
    path: &'a Path,
    points: Vec<Point>,
    counts: Counts,
    rejects: Vec<Reject>,
}

impl<'a> Collected<'a> {
    fn new(path: &'a Path) -> Self {
        Collected {
            path,
            points: Vec::new(),
            counts: Counts::default(),
            rejects: Vec::new(),
        }
    }

    /// `values` values of line `line_no` rejected for `reason`.
    fn reject(&mut self, line_no: usize, values: u64, reason: String) {
        self.counts.rejected += values;
        self.rejects.push(Reject::rejected(
            self.path,
            format!("line {line_no}"),
            reason,
        ));
    }

    /// One point, unless it makes no physical sense (then rejected, `band` named).
    fn point(&mut self, line_no: usize, band: &str, colour: u8, mjd: f64, mag: f64, err: f64) {
        match implausible(mjd, mag, err) {
            Some(reason) => self.reject(line_no, 1, format!("{band}{reason}")),
            None => {
                self.counts.written += 1;
                self.points.push(Point {
                    colour,
                    mjd,
                    mag: mag as f32,
                    mag_err: err as f32,
                });
            }
        }
    }

    /// A MACHO data line: `MJD Mag Err`, one value (its colour set once the header is
    /// read).
    fn macho_line(&mut self, line_no: usize, line: &str) {
        self.counts.read += 1;
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.len() != 3 {
            let reason = format!("expected 3 columns (MJD Mag Err), found {}", tokens.len());
            return self.reject(line_no, 1, reason);
        }
        match (
            parse_f64(tokens[0]),
            parse_f64(tokens[1]),
            parse_f64(tokens[2]),
        ) {
            (Some(mjd), Some(mag), Some(err)) => self.point(line_no, "", 0, mjd, mag, err),
            _ => self.reject(line_no, 1, format!("not a number in '{line}'")),
        }
    }

    /// An EROS-2 data line: `date MagR ErMagR MagB ErMagB`, two values.
    fn eros_line(&mut self, line_no: usize, line: &str, conventions: &Conventions) {
        self.counts.read += 2;
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.len() != 5 {
            let reason = format!(
                "expected 5 columns (date MagR ErMagR MagB ErMagB), found {}",
                tokens.len()
            );
            return self.reject(line_no, 2, reason);
        }
        let names = ["date", "MagR", "ErMagR", "MagB", "ErMagB"];
        let mut values = [0.0; 5];
        for (k, t) in tokens.iter().enumerate() {
            match parse_f64(t) {
                Some(v) => values[k] = v,
                None => {
                    let reason = format!("column {} is not a number: '{t}'", names[k]);
                    return self.reject(line_no, 2, reason);
                }
            }
        }
        let mjd = eros_date_to_mjd(values[0]);
        for (colour, band, m, e) in [
            (b'R', "red: ", values[1], values[2]),
            (b'B', "blue: ", values[3], values[4]),
        ] {
            let missing = (m - conventions.missing.mag).abs() < 1e-6
                || (e - conventions.missing.mag_err).abs() < 1e-6;
            if missing {
                self.counts.missing += 1;
            } else {
                self.point(line_no, band, colour, mjd, m, e);
            }
        }
    }
}

/// Parses an EROS-2 light curve: a commented header
/// (`# star: erosid MagR ErrMR XR YR MagB ErrMB XB YB`, then a line of values), then rows
/// `date MagR ErMagR MagB ErMagB` with date = JD - 2450000 and 99.999 / 9.999 for missing.
pub fn parse_eros(
    path: &Path,
    text: &str,
    conventions: &Conventions,
) -> Result<LightCurve, RejectedFile> {
    let mut header_values: Option<Vec<String>> = None;
    let mut expect_values = false;
    let mut data = Collected::new(path);
    let mut data_lines = 0u64;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            let c = comment.trim();
            if c.starts_with("star:") {
                expect_values = true;
            } else if expect_values && !c.is_empty() {
                header_values = Some(c.split_whitespace().map(str::to_string).collect());
                expect_values = false;
            }
            continue;
        }
        data_lines += 1;
        data.eros_line(i + 1, trimmed, conventions);
    }
    let Collected {
        points,
        counts,
        rejects,
        ..
    } = data;
    if data_lines == 0 && header_values.is_none() {
        return Err(RejectedFile::new(
            Reject::rejected(path, "file", "empty: no header and no measurement"),
            counts.read,
        ));
    }
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".time").to_string())
        .unwrap_or_default();
    let hv = header_values.unwrap_or_default();
    let star_id = hv.first().cloned().unwrap_or(stem);
    let Some(parts) = conventions.parse_star_id(&star_id) else {
        return Err(RejectedFile::new(
            Reject::rejected(
                path,
                "file",
                format!(
                    "star id '{star_id}' does not follow the {} star-id convention; {} values not written",
                    conventions.survey, counts.read
                ),
            ),
            counts.read,
        ));
    };
    let num = |k: usize| hv.get(k).and_then(|t| parse_f64(t));
    let colour_header = |m: usize, x: usize, y: usize| ColourHeader {
        mag: num(m).filter(|v| (v - conventions.missing.mag).abs() > 1e-6),
        xy: num(x).zip(num(y)),
    };
    Ok(LightCurve {
        star_id,
        survey: "EROS-2",
        field: parts.field.clone(),
        parts: Some(parts),
        colours: vec![b'R', b'B'],
        header: [colour_header(1, 3, 4), colour_header(5, 7, 8)],
        header_radec: None,
        points,
        counts,
        rejects,
        source: crate::ingest::discover::path_text(path),
    })
}

/// The values of a MACHO header line, or the file rejected (its `values` counted).
fn macho_header(
    path: &Path,
    header: Option<Vec<String>>,
    values: u64,
) -> Result<Vec<String>, RejectedFile> {
    let reason = match header {
        Some(h) if h.len() >= 6 => return Ok(h),
        Some(_) => "MACHO header has fewer than 6 values".to_string(),
        None if values == 0 => {
            return Err(RejectedFile::new(
                Reject::rejected(path, "file", "empty: no header and no measurement"),
                0,
            ));
        }
        None => format!(
            "no MACHO header line (#Field Tile Seq RA Dec Filter ...); {values} values not written"
        ),
    };
    Err(RejectedFile::new(
        Reject::rejected(path, "line 2", reason),
        values,
    ))
}

/// Parses a MACHO light curve (`lc_FIELD.TILE.SEQ.BAND.mjd`): two header lines
/// `#Field Tile Seq RA(hour) Dec(deg) Filter ...` and its values, `#MJD Mag Err`, then
/// rows `MJD Mag Err`. The star id is `FIELD.TILE.SEQ`, the field the MACHO field number.
pub fn parse_macho(path: &Path, text: &str) -> Result<LightCurve, RejectedFile> {
    let mut header: Option<Vec<String>> = None;
    let mut data = Collected::new(path);
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(c) = t.strip_prefix('#') {
            let first = c.split_whitespace().next().unwrap_or("");
            if first.parse::<i64>().is_ok() {
                header = Some(c.split_whitespace().map(str::to_string).collect());
            }
            continue;
        }
        data.macho_line(i + 1, t);
    }
    let Collected {
        mut points,
        counts,
        rejects,
        ..
    } = data;
    let h = macho_header(path, header, counts.read)?;
    let star_id = format!("{}.{}.{}", h[0], h[1], h[2]);
    let colour = match h[5].as_str() {
        "R" | "r" => b'R',
        "B" | "b" | "V" | "v" => b'B',
        other => {
            return Err(RejectedFile::new(
                Reject::rejected(
                    path,
                    "line 2",
                    format!("unknown MACHO band '{other}' (expected R or B)"),
                ),
                counts.read,
            ));
        }
    };
    let ra = h
        .get(3)
        .and_then(|t| parse_f64(t))
        .map(|hours| hours * 15.0);
    let dec = h.get(4).and_then(|t| parse_f64(t));
    // The band is known from the header only: the points get it now.
    for p in &mut points {
        p.colour = colour;
    }
    let mut header_info = [ColourHeader::default(); 2];
    header_info[colour_index(colour)].mag = h.get(6).and_then(|t| parse_f64(t));
    Ok(LightCurve {
        star_id,
        survey: "MACHO",
        field: h[0].clone(),
        parts: None,
        colours: vec![colour],
        header: header_info,
        header_radec: ra.zip(dec),
        points,
        counts,
        rejects,
        source: crate::ingest::discover::path_text(path),
    })
}
