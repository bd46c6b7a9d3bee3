//! Reading one light-curve file with a format description.

use std::path::Path;

use super::description::{
    Band, BandIndex, Delimiter, FormatDescription, HeaderLine, NamesFrom, TimeScale, find_column,
};
use super::template::{FileValues, Template};
use crate::conventions::{Conventions, StarIdParts};
use crate::ingest::lightcurve::{
    ColourHeader, Counts, LightCurve, Point, RejectedFile, colour_index, implausible,
};
use crate::ingest::rejects::Reject;

/// What the first pass over a file's lines found: keywords, header values, column
/// names (and IPAC bounds) and the data lines.
#[derive(Default)]
struct FileLayout<'t> {
    values: FileValues,
    /// Line number of the header values (for error locations).
    header_line: Option<usize>,
    /// Column names the file gives.
    names: Option<Vec<String>>,
    /// IPAC: byte ranges of the columns, and their null markers.
    ipac_bounds: Vec<(usize, usize)>,
    ipac_nulls: Vec<String>,
    ipac_header_lines: usize,
    /// Data lines (1-based number, text).
    data: Vec<(usize, &'t str)>,
}

fn split_keyword(text: &str) -> Option<(String, String)> {
    let (k, v) = text.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || k.contains(char::is_whitespace) {
        return None;
    }
    let v = v.trim().trim_matches(|c| c == '\'' || c == '"').trim();
    Some((k.to_ascii_uppercase(), v.to_string()))
}

/// Splits a data or header line into values; `None` for an IPAC line whose column
/// bounds fall inside a character (not aligned with the header).
fn split<'l>(
    d: &FormatDescription,
    bounds: &[(usize, usize)],
    line: &'l str,
) -> Option<Vec<&'l str>> {
    Some(match d.delimiter {
        Delimiter::Whitespace => line.split_whitespace().collect(),
        Delimiter::Comma => line
            .split(',')
            .map(|t| t.trim().trim_matches('"'))
            .collect(),
        Delimiter::Tab => line.split('\t').map(str::trim).collect(),
        Delimiter::Semicolon => line.split(';').map(str::trim).collect(),
        Delimiter::Ipac => {
            let mut out = Vec::with_capacity(bounds.len());
            for &(a, b) in bounds {
                let (a, b) = (a.min(line.len()), b.min(line.len()));
                out.push(line.get(a..b)?.trim());
            }
            out
        }
    })
}

/// IPAC `|a |b |` header line: names and the byte range of each column.
fn ipac_columns(line: &str) -> (Vec<String>, Vec<(usize, usize)>) {
    let bars: Vec<usize> = line.match_indices('|').map(|(i, _)| i).collect();
    let mut names = Vec::new();
    let mut bounds = Vec::new();
    for w in bars.windows(2) {
        names.push(line[w[0] + 1..w[1]].trim().to_string());
        bounds.push((w[0] + 1, w[1]));
    }
    (names, bounds)
}

fn first_pass<'t>(d: &FormatDescription, text: &'t str) -> FileLayout<'t> {
    let mut l = FileLayout::default();
    let mut expect_values = false;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let t = raw.trim_end_matches('\r');
        if t.trim().is_empty() {
            continue;
        }
        if d.delimiter == Delimiter::Ipac && t.starts_with('\\') {
            if let Some((k, v)) = split_keyword(&t[1..]) {
                l.values.keys.insert(k, v);
            }
            continue;
        }
        if d.delimiter == Delimiter::Ipac && t.trim_start().starts_with('|') {
            let (names, bounds) = ipac_columns(t);
            match l.ipac_header_lines {
                0 => {
                    l.names = Some(names);
                    l.ipac_bounds = bounds;
                }
                3 => l.ipac_nulls = names,
                _ => {}
            }
            l.ipac_header_lines += 1;
            continue;
        }
        if let Some(c) = d.comment.as_deref().and_then(|c| t.trim().strip_prefix(c)) {
            let c = c.trim();
            if let Some((k, v)) = split_keyword(c) {
                l.values.keys.entry(k).or_insert(v);
            }
            match &d.header {
                HeaderLine::After(re) if re.is_match(c) => expect_values = true,
                HeaderLine::After(_) if expect_values && !c.is_empty() => {
                    l.values.header = c.split_whitespace().map(str::to_string).collect();
                    l.header_line = Some(line_no);
                    expect_values = false;
                }
                HeaderLine::Matching(re) if re.is_match(c) => {
                    l.values.header = c.split_whitespace().map(str::to_string).collect();
                    l.header_line = Some(line_no);
                }
                _ => {}
            }
            continue;
        }
        if d.names_from == NamesFrom::FirstLine && l.names.is_none() {
            let names = split(d, &[], t.trim())
                .unwrap_or_default()
                .iter()
                .map(|s| s.to_string())
                .collect();
            l.names = Some(names);
            continue;
        }
        l.data.push((
            line_no,
            if d.delimiter == Delimiter::Ipac {
                t
            } else {
                t.trim()
            },
        ));
    }
    l
}

fn file_values(d: &FormatDescription, path: &Path, values: &mut FileValues) {
    let text = |p: Option<&std::ffi::OsStr>| {
        p.map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    };
    let name = text(path.file_name());
    let dir = text(path.parent().and_then(Path::file_name));
    let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
    values.file.insert("stem".into(), stem.to_string());
    values.file.insert("name".into(), name.clone());
    values.file.insert("dir".into(), dir.clone());
    let Some(re) = &d.file_name_pattern else {
        return;
    };
    // The name alone, else `DIR/NAME` (layouts that name the star by its directory, as
    // OGLE's `blg-0001/phot.dat`).
    let with_dir = format!("{dir}/{name}");
    if let Some(c) = re.captures(&name).or_else(|| re.captures(&with_dir)) {
        for g in re.capture_names().flatten() {
            if let Some(m) = c.name(g) {
                values.file.insert(g.to_string(), m.as_str().to_string());
            }
        }
    }
}

fn parse_f64(token: &str) -> Option<f64> {
    token.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The resolved reading plan of one file: column indices, band letters, time scale.
struct Plan<'d> {
    columns: Vec<String>,
    time: usize,
    scale: TimeScale,
    bands: Vec<(u8, &'d Band, BandIndex)>,
    /// The survey conventions' missing markers (magnitude, error), for descriptions whose
    /// star ids follow the conventions (`--conventions` can change them).
    conventions_missing: Option<(f64, f64)>,
}

fn plan<'d>(
    d: &'d FormatDescription,
    l: &FileLayout,
    values: &FileValues,
) -> Result<Plan<'d>, String> {
    let columns = match (d.names_from, &l.names) {
        (NamesFrom::Description, _) => d.columns.clone(),
        (_, Some(names)) => names.clone(),
        (NamesFrom::FirstLine, None) => return Err("no header line naming the columns".into()),
        (NamesFrom::Ipac, None) => return Err("no IPAC |name| header line".into()),
    };
    let time = find_column(&columns, &d.time_column).ok_or_else(|| {
        format!(
            "no time column ({}) among the columns {}",
            d.time_column.join(", "),
            columns.join(", ")
        )
    })?;
    let mut bands: Vec<(u8, &Band, BandIndex)> = Vec::new();
    for b in &d.bands {
        let index = b.resolve(&columns)?;
        let letter = band_letter(d, &b.band, values)?;
        if bands.iter().any(|(l, _, _)| *l == letter) {
            return Err(format!(
                "band {} given twice by the description",
                letter as char
            ));
        }
        bands.push((letter, b, index));
    }
    // Several candidate time columns: the one found names its scale (HJD, BJD, JD, MJD).
    let named = (d.time_column.len() > 1)
        .then(|| TimeScale::named(&columns[time]))
        .flatten();
    Ok(Plan {
        scale: time_scale(d, values, named)?,
        columns,
        time,
        bands,
        conventions_missing: None,
    })
}

/// The file's time scale: from the file when the description says where (an unknown name
/// rejects the file rather than mislabel its dates), else the description's.
fn time_scale(
    d: &FormatDescription,
    values: &FileValues,
    named: Option<TimeScale>,
) -> Result<TimeScale, String> {
    let fallback = named.unwrap_or(d.time_scale);
    let Some((t, names)) = &d.scale_from else {
        return Ok(fallback);
    };
    match t.resolve(values) {
        Err(_) => Ok(fallback),
        Ok(name) => names.get(&name).copied().ok_or_else(|| {
            let known: Vec<&str> = names.keys().map(String::as_str).collect();
            format!(
                "time scale '{name}' is not one the description knows ({}); add it to time.scale_names",
                known.join(", ")
            )
        }),
    }
}

fn band_letter(d: &FormatDescription, ts: &[Template], values: &FileValues) -> Result<u8, String> {
    let raw = first_resolved(ts, values)?;
    let name = d
        .band_names
        .get(&raw)
        .cloned()
        .unwrap_or_else(|| raw.clone());
    match name.as_bytes() {
        [c] if c.is_ascii_alphanumeric() => Ok(*c),
        _ => {
            let known: Vec<&str> = d.band_names.keys().map(String::as_str).collect();
            Err(format!(
                "unknown band '{raw}' (known: {}; a band is one letter, others are mapped in band_names)",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            ))
        }
    }
}

/// The measurements of the data lines, with their accounting and rejected lines.
struct LineAccounting<'a> {
    path: &'a Path,
    points: Vec<Point>,
    counts: Counts,
    rejects: Vec<Reject>,
}

impl LineAccounting<'_> {
    fn reject(&mut self, line_no: usize, values: u64, reason: String) {
        self.counts.rejected += values;
        self.rejects.push(Reject::rejected(
            self.path,
            format!("line {line_no}"),
            reason,
        ));
    }
}

/// A value of one band on one line: a measurement, missing, a value that makes no
/// physical sense (that band rejected), or a line that cannot be read (all bands
/// rejected).
enum Reading {
    Point(Point),
    Missing,
    Implausible(String),
    Bad(String),
}

fn is_null(l: &FileLayout, column: usize, token: &str) -> bool {
    token.is_empty()
        || token.eq_ignore_ascii_case("null")
        || token.eq_ignore_ascii_case("nan")
        || l.ipac_nulls
            .get(column)
            .is_some_and(|n| !n.is_empty() && n == token)
}

fn read_band(
    l: &FileLayout,
    p: &Plan,
    letter: u8,
    (b, at): (&Band, BandIndex),
    tokens: &[&str],
    mjd: f64,
) -> Reading {
    let number = |c: Option<usize>| -> Result<Option<f64>, String> {
        match c {
            None => Ok(None),
            Some(k) if is_null(l, k, tokens[k]) => Ok(None),
            Some(k) => parse_f64(tokens[k])
                .map(Some)
                .ok_or_else(|| format!("column {} is not a number: '{}'", p.columns[k], tokens[k])),
        }
    };
    let limit = at
        .mag
        .is_some_and(|k| b.missing_text.iter().any(|re| re.is_match(tokens[k])));
    let parsed = (|| {
        Ok::<_, String>((
            if limit { None } else { number(at.mag)? },
            number(at.mag_err)?,
            number(at.flux)?,
            number(at.flux_err)?,
        ))
    })();
    let (mag, err, flux, flux_err) = match parsed {
        Ok(v) => v,
        Err(e) => return Reading::Bad(e),
    };
    let near =
        |v: Option<f64>, list: &[f64]| v.is_some_and(|v| list.iter().any(|m| (v - m).abs() < 1e-6));
    let (conv_mag, conv_err) = p
        .conventions_missing
        .map_or((None, None), |(m, e)| (Some(m), Some(e)));
    let marked = |v: Option<f64>, list: &[f64], conv: Option<f64>| {
        near(v, list) || conv.is_some_and(|c| near(v, &[c]))
    };
    let mag_missing =
        mag.is_none() || marked(mag, &b.missing, conv_mag) || marked(err, &b.missing_err, conv_err);
    if mag_missing && flux.is_none() {
        return Reading::Missing;
    }
    // Magnitudes from fluxes when the file has none: mag = ZP - 2.5 log10(flux).
    let (mag, err) = match (mag_missing, at.mag, flux, b.zero_point) {
        (false, _, _, _) => (mag, err),
        (true, None, Some(f), Some(zp)) if f > 0.0 => (
            Some(zp - 2.5 * f.log10()),
            flux_err.map(|e| 2.5 / std::f64::consts::LN_10 * e / f),
        ),
        _ => (None, None),
    };
    if let Some(reason) = implausible(mjd, mag.unwrap_or(0.0), err.unwrap_or(0.0)) {
        return Reading::Implausible(reason);
    }
    if let Some(e) = flux_err.filter(|e| *e < 0.0) {
        return Reading::Implausible(format!("flux error {e} is negative"));
    }
    Reading::Point(Point {
        colour: letter,
        mjd,
        mag: mag.map_or(f32::NAN, |m| m as f32),
        mag_err: err.map_or(f32::NAN, |e| e as f32),
        flux: flux.unwrap_or(f64::NAN),
        flux_err: flux_err.map_or(f32::NAN, |e| e as f32),
    })
}

/// Whether a line has the number of values the layout wants, or the rejection reason.
fn check_width(d: &FormatDescription, p: &Plan, found: usize) -> Result<(), String> {
    let want = p.columns.len();
    let min = d.min_columns.unwrap_or(want).min(want);
    let ok = match d.min_columns {
        Some(_) => found >= min,
        None => found == want,
    };
    let range = if min < want {
        format!("{min} to ")
    } else {
        String::new()
    };
    if !ok {
        return Err(format!(
            "expected {range}{want} columns ({}), found {found}",
            p.columns.join(" ")
        ));
    }
    let needed = p.bands.iter().flat_map(|(_, _, at)| at.all()).flatten();
    match needed.chain([p.time]).find(|&k| k >= found) {
        Some(k) => Err(format!("column {} absent ({found} values)", p.columns[k])),
        None => Ok(()),
    }
}

fn read_line(
    d: &FormatDescription,
    l: &FileLayout,
    p: &Plan,
    v: &mut LineAccounting,
    line_no: usize,
    line: &str,
) {
    let bands_per_line = p.bands.len() as u64;
    v.counts.read += bands_per_line;
    let Some(tokens) = split(d, &l.ipac_bounds, line) else {
        let reason = "values not aligned with the columns of the IPAC header".to_string();
        return v.reject(line_no, bands_per_line, reason);
    };
    if let Err(reason) = check_width(d, p, tokens.len()) {
        return v.reject(line_no, bands_per_line, reason);
    }
    let Some(t) = parse_f64(tokens[p.time]) else {
        let reason = format!(
            "column {} is not a number: '{}'",
            p.columns[p.time], tokens[p.time]
        );
        return v.reject(line_no, bands_per_line, reason);
    };
    let mjd = d.mjd(t, p.scale);
    let readings: Vec<Reading> = p
        .bands
        .iter()
        .map(|(letter, b, at)| read_band(l, p, *letter, (b, *at), &tokens, mjd))
        .collect();
    if let Some(Reading::Bad(reason)) = readings.iter().find(|r| matches!(r, Reading::Bad(_))) {
        return v.reject(line_no, bands_per_line, reason.clone());
    }
    for ((letter, _, _), r) in p.bands.iter().zip(readings) {
        match r {
            Reading::Missing => v.counts.missing += 1,
            Reading::Point(pt) => {
                v.counts.written += 1;
                v.points.push(pt);
            }
            Reading::Implausible(reason) | Reading::Bad(reason) => {
                let band = if bands_per_line > 1 {
                    format!("{}: ", *letter as char)
                } else {
                    String::new()
                };
                v.reject(line_no, 1, format!("{band}{reason}"))
            }
        }
    }
}

/// Reads `text` (the file at `path`) with the description `d`.
pub fn read_described(
    d: &'static FormatDescription,
    path: &Path,
    text: &str,
    conventions: &Conventions,
) -> Result<LightCurve, RejectedFile> {
    let mut l = first_pass(d, text);
    let mut values = std::mem::take(&mut l.values);
    file_values(d, path, &mut values);
    let whole = |reason: String, values: u64| {
        RejectedFile::new(Reject::rejected(path, "file", reason), values)
    };
    let bands_per_line = d.bands.len() as u64;
    if l.data.is_empty() && values.header.is_empty() && l.names.is_none() {
        return Err(whole("empty: no header and no measurement".into(), 0));
    }
    let all = l.data.len() as u64 * bands_per_line;
    let header_at = l
        .header_line
        .map_or("file".to_string(), |n| format!("line {n}"));
    let mut plan = plan(d, &l, &values).map_err(|reason| {
        RejectedFile::new(
            Reject::rejected(
                path,
                header_at.clone(),
                format!("{reason}; {all} values not written"),
            ),
            all,
        )
    })?;
    if d.star_conventions {
        plan.conventions_missing = Some((conventions.missing.mag, conventions.missing.mag_err));
    }
    let mut v = LineAccounting {
        path,
        points: Vec::with_capacity(l.data.len() * plan.bands.len()),
        counts: Counts::default(),
        rejects: Vec::new(),
    };
    for &(line_no, line) in &l.data {
        read_line(d, &l, &plan, &mut v, line_no, line);
    }
    let read = v.counts.read;
    let (star_id, field, parts) = star_of(d, &values, conventions)
        .map_err(|reason| whole(format!("{reason}; {read} values not written"), read))?;
    Ok(LightCurve {
        header: colour_headers(&plan, &values),
        header_radec: header_radec(d, &values),
        colours: plan.bands.iter().map(|(c, _, _)| *c).collect(),
        star_id,
        survey: &d.survey,
        format: &d.name,
        time_scale: plan.scale.name(),
        field,
        parts,
        points: v.points,
        counts: v.counts,
        rejects: v.rejects,
        source: crate::ingest::path_text::path_text(path),
    })
}

/// The star's id, field and (for ids that follow the survey conventions) CCD quarter.
fn star_of(
    d: &FormatDescription,
    values: &FileValues,
    conventions: &Conventions,
) -> Result<(String, String, Option<StarIdParts>), String> {
    let star_id =
        first_resolved(&d.star_id, values).map_err(|e| format!("no star identifier ({e})"))?;
    if d.star_conventions {
        let parts = conventions.parse_star_id(&star_id).ok_or_else(|| {
            format!(
                "star id '{star_id}' does not follow the {} star-id convention",
                conventions.survey
            )
        })?;
        return Ok((star_id, parts.field.clone(), Some(parts)));
    }
    let field = first_resolved(&d.field, values).map_err(|e| format!("no field ({e})"))?;
    Ok((star_id, field, None))
}

/// The first template that resolves to a non-empty text, or why the first did not.
fn first_resolved(ts: &[Template], values: &FileValues) -> Result<String, String> {
    let mut why = None;
    for t in ts {
        match t.resolve(values) {
            Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
            Ok(_) => why = why.or(Some("empty".to_string())),
            Err(e) => why = why.or(Some(e)),
        }
    }
    Err(why.unwrap_or_default())
}

fn number_of(t: &Template, values: &FileValues) -> Option<f64> {
    t.resolve(values).ok().and_then(|s| parse_f64(&s))
}

fn colour_headers(p: &Plan, values: &FileValues) -> [ColourHeader; 2] {
    let mut out = [ColourHeader::default(); 2];
    for (letter, b, _) in &p.bands {
        let h = &mut out[colour_index(*letter)];
        h.mag = b
            .header_mag
            .as_ref()
            .and_then(|t| number_of(t, values))
            .filter(|m| b.missing.iter().all(|x| (m - x).abs() > 1e-6))
            .filter(|m| {
                p.conventions_missing
                    .is_none_or(|(x, _)| (m - x).abs() > 1e-6)
            });
        h.xy = b
            .header_xy
            .as_ref()
            .and_then(|(x, y)| number_of(x, values).zip(number_of(y, values)));
    }
    out
}

fn header_radec(d: &FormatDescription, values: &FileValues) -> Option<(f64, f64)> {
    let (ra, dec, hours) = d.radec.as_ref()?;
    let ra = angle_degrees(&ra.resolve(values).ok()?, *hours)?;
    let dec = angle_degrees(&dec.resolve(values).ok()?, false)?;
    ((0.0..360.0).contains(&ra) && (-90.0..=90.0).contains(&dec)).then_some((ra, dec))
}

/// An angle in degrees from a decimal number (in hours when `hours`) or a sexagesimal
/// text: `18h01m16.35s`, `-28d53m42.00s`, `18:01:16.35` (hours when `hours`).
pub fn angle_degrees(text: &str, hours: bool) -> Option<f64> {
    let t = text.trim();
    if let Some(v) = parse_f64(t) {
        return Some(if hours { v * 15.0 } else { v });
    }
    let in_hours = t.contains('h') || (hours && t.contains(':'));
    let negative = t.starts_with('-');
    let parts: Vec<f64> = t
        .trim_start_matches(['-', '+'])
        .split(['h', 'd', 'm', 's', ':', ' ', '\u{b0}', '\'', '"'])
        .filter(|p| !p.is_empty())
        .map(parse_f64)
        .collect::<Option<_>>()?;
    if parts.is_empty() || parts.len() > 3 || parts.iter().skip(1).any(|v| *v >= 60.0) {
        return None;
    }
    let value = parts.iter().rev().fold(0.0, |acc, v| v + acc / 60.0);
    let value = if in_hours { value * 15.0 } else { value };
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::angle_degrees;

    #[test]
    fn sexagesimal_and_decimal_angles() {
        let ra = angle_degrees("18h01m16.35s", false).unwrap();
        assert!((ra - (18.0 + 1.0 / 60.0 + 16.35 / 3600.0) * 15.0).abs() < 1e-9);
        let dec = angle_degrees("-28d53m42.00s", false).unwrap();
        assert!((dec + (28.0 + 53.0 / 60.0 + 42.0 / 3600.0)).abs() < 1e-9);
        assert_eq!(angle_degrees("5.0", true), Some(75.0));
        assert!((angle_degrees("18:01:16.35", true).unwrap() - ra).abs() < 1e-9);
        assert_eq!(angle_degrees("12h75m", false), None);
        assert_eq!(angle_degrees("north", false), None);
    }
}
