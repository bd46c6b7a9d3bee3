//! A light-curve format description (`datasets/formats/*.toml`), parsed and checked.
//!
//! docs/FORMATS.md documents every key with a complete example.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use regex::Regex;
use serde::Deserialize;

use super::template::Template;

/// How the values of a data line are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delimiter {
    /// Runs of spaces and tabs.
    Whitespace,
    /// `,` (CSV; fields may be quoted with `"`).
    Comma,
    /// One tab.
    Tab,
    /// `;`.
    Semicolon,
    /// IPAC tables: fixed-width columns bounded by the `|` of the header line.
    Ipac,
}

/// Where the column names come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamesFrom {
    /// `columns` of the description, by position.
    Description,
    /// The first line that is not a comment (a CSV header).
    FirstLine,
    /// The first `|name|name|` line of an IPAC table.
    Ipac,
}

/// The time scale of the file's time column, recorded in `measurements.time_scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TimeScale {
    /// Julian Date (UTC).
    JD,
    /// Heliocentric Julian Date.
    HJD,
    /// Barycentric Julian Date (TDB).
    BJD,
    /// Modified Julian Date (UTC).
    MJD,
    /// Heliocentric MJD.
    HMJD,
    /// Barycentric MJD (TDB).
    BMJD,
}

impl TimeScale {
    /// The name written in `measurements.time_scale`.
    pub fn name(self) -> &'static str {
        match self {
            TimeScale::JD | TimeScale::MJD => "UTC",
            TimeScale::HJD | TimeScale::HMJD => "HJD",
            TimeScale::BJD | TimeScale::BMJD => "BJD_TDB",
        }
    }

    /// The scale a time column's name says (`HJD`, `BJD`, `JD`, `MJD`, case-insensitive).
    pub fn named(column: &str) -> Option<Self> {
        match column.to_ascii_uppercase().as_str() {
            "JD" => Some(TimeScale::JD),
            "HJD" => Some(TimeScale::HJD),
            "BJD" => Some(TimeScale::BJD),
            "MJD" => Some(TimeScale::MJD),
            "HMJD" => Some(TimeScale::HMJD),
            "BMJD" => Some(TimeScale::BMJD),
            _ => None,
        }
    }

    /// What to add to (value + zero) for an MJD: -2400000.5 for Julian Dates, 0 for MJDs.
    pub fn mjd_offset(self) -> f64 {
        match self {
            TimeScale::JD | TimeScale::HJD | TimeScale::BJD => -2_400_000.5,
            TimeScale::MJD | TimeScale::HMJD | TimeScale::BMJD => 0.0,
        }
    }
}

/// One text or a list of alternatives (the first that applies wins).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(&self) -> Vec<String> {
        match self {
            OneOrMany::None => vec![],
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// The file layout as written in the TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDescription {
    name: String,
    survey: String,
    description: String,
    #[serde(default)]
    file_names: Vec<String>,
    #[serde(default)]
    auto: bool,
    #[serde(default)]
    file_name_pattern: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    delimiter: Delimiter,
    #[serde(default = "default_names_from")]
    names_from: NamesFrom,
    #[serde(default)]
    columns: Vec<String>,
    #[serde(default)]
    min_columns: Option<usize>,
    #[serde(default)]
    header: RawHeader,
    time: RawTime,
    star: RawStar,
    bands: Vec<RawBand>,
    #[serde(default)]
    band_names: BTreeMap<String, String>,
}

fn default_names_from() -> NamesFrom {
    NamesFrom::Description
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    after: Option<String>,
    line: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTime {
    column: OneOrMany,
    scale: TimeScale,
    #[serde(default)]
    scale_from: Option<String>,
    #[serde(default)]
    scale_names: BTreeMap<String, TimeScale>,
    #[serde(default)]
    zero: f64,
    #[serde(default)]
    abbreviated_zero: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStar {
    id: OneOrMany,
    #[serde(default)]
    conventions: bool,
    #[serde(default)]
    field: OneOrMany,
    ra: Option<String>,
    dec: Option<String>,
    #[serde(default)]
    ra_unit: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    band: OneOrMany,
    #[serde(default)]
    mag: OneOrMany,
    #[serde(default)]
    mag_err: OneOrMany,
    #[serde(default)]
    flux: OneOrMany,
    #[serde(default)]
    flux_err: OneOrMany,
    zero_point: Option<f64>,
    #[serde(default)]
    missing: Vec<f64>,
    #[serde(default)]
    missing_err: Vec<f64>,
    #[serde(default)]
    missing_text: Vec<String>,
    header_mag: Option<String>,
    header_x: Option<String>,
    header_y: Option<String>,
}

/// Which comment line holds the header values (`{header.N}`).
#[derive(Debug, Clone)]
pub enum HeaderLine {
    /// No header values.
    None,
    /// The first non-empty comment line after one matching the pattern.
    After(Regex),
    /// The last comment line matching the pattern.
    Matching(Regex),
}

/// One band of a data line.
#[derive(Debug, Clone)]
pub struct Band {
    /// The band letter: templates, the first that resolves wins (MACHO: from the header).
    pub band: Vec<Template>,
    /// Candidate names of the magnitude, magnitude error, flux and flux error columns
    /// (the first the file has wins; none: the band has no such value).
    pub columns: [Vec<String>; 4],
    /// mag = zero_point - 2.5 log10(flux), when the file has no magnitude.
    pub zero_point: Option<f64>,
    /// Magnitude values that mean "no measurement".
    pub missing: Vec<f64>,
    /// Error values that mean "no measurement".
    pub missing_err: Vec<f64>,
    /// Regexes: a magnitude text matching one is "no measurement" (`>17.5`, upper limits).
    pub missing_text: Vec<Regex>,
    /// The magnitude the header gives.
    pub header_mag: Option<Template>,
    /// The reference-image pixel position the header gives.
    pub header_xy: Option<(Template, Template)>,
}

/// Where a band's values are in a file's columns.
#[derive(Debug, Clone, Copy, Default)]
pub struct BandIndex {
    /// Magnitude column.
    pub mag: Option<usize>,
    /// Magnitude error column.
    pub mag_err: Option<usize>,
    /// Flux column.
    pub flux: Option<usize>,
    /// Flux error column.
    pub flux_err: Option<usize>,
}

impl BandIndex {
    /// The columns read.
    pub fn all(&self) -> [Option<usize>; 4] {
        [self.mag, self.mag_err, self.flux, self.flux_err]
    }
}

/// The first of `names` found in `columns` (case-insensitive).
pub fn find_column(columns: &[String], names: &[String]) -> Option<usize> {
    names
        .iter()
        .find_map(|n| columns.iter().position(|c| c.eq_ignore_ascii_case(n)))
}

impl Band {
    /// Where the band's values are in `columns`, or why it has none.
    pub fn resolve(&self, columns: &[String]) -> Result<BandIndex, String> {
        let [mag, mag_err, flux, flux_err] =
            self.columns.each_ref().map(|n| find_column(columns, n));
        if mag.is_none() && flux.is_none() {
            let wanted: Vec<&str> = self.columns[0]
                .iter()
                .chain(&self.columns[2])
                .map(String::as_str)
                .collect();
            return Err(format!(
                "no magnitude or flux column ({}) among the columns {}",
                wanted.join(", "),
                columns.join(", ")
            ));
        }
        Ok(BandIndex {
            mag,
            mag_err,
            flux,
            flux_err,
        })
    }
}

/// A compiled format description.
#[derive(Debug, Clone)]
pub struct FormatDescription {
    /// Short name (`--format NAME`, `inputs.format`).
    pub name: String,
    /// Survey written in `stars.survey`.
    pub survey: String,
    /// One line for `--detect` and the docs.
    pub description: String,
    /// File names this layout comes in.
    pub file_names: Vec<Regex>,
    /// Whether `--format auto` reads files whose names match.
    pub auto: bool,
    /// Named groups for `{file.NAME}`.
    pub file_name_pattern: Option<Regex>,
    /// Comment prefix.
    pub comment: Option<String>,
    /// Value separator.
    pub delimiter: Delimiter,
    /// Where the column names come from.
    pub names_from: NamesFrom,
    /// Column names (from the description; the file's own when `names_from` says so).
    pub columns: Vec<String>,
    /// Fewest values a data line may have; without it a line has exactly as many values as
    /// there are columns.
    pub min_columns: Option<usize>,
    /// Which comment line holds header values.
    pub header: HeaderLine,
    /// Time column names (the first the file has).
    pub time_column: Vec<String>,
    /// Its scale.
    pub time_scale: TimeScale,
    /// The scale from the file (a template, e.g. `{key.TIME_REFERENCE_FRAME}`) through
    /// `scale_names`, when the file says it.
    pub scale_from: Option<(Template, BTreeMap<String, TimeScale>)>,
    /// The column holds (time - zero) in its scale.
    pub time_zero: f64,
    /// Files that write some dates in full and others abbreviated (OGLE: 2455265.84 or
    /// 5265.84): a value below 1,000,000 is (time - this).
    pub abbreviated_zero: Option<f64>,
    /// Star identifier templates, the first that resolves wins.
    pub star_id: Vec<Template>,
    /// Whether the star id follows the survey conventions' star-id pattern (field, CCD,
    /// quarter taken from it).
    pub star_conventions: bool,
    /// Field templates (when not from the conventions), the first that resolves wins.
    pub field: Vec<Template>,
    /// Position templates, and whether RA is in hours.
    pub radec: Option<(Template, Template, bool)>,
    /// Bands of each data line.
    pub bands: Vec<Band>,
    /// Band names as the file writes them -> band letters.
    pub band_names: BTreeMap<String, String>,
}

fn regex(what: &str, text: &str) -> Result<Regex> {
    Regex::new(text).with_context(|| format!("{what}: bad regular expression '{text}'"))
}

fn template(what: &str, text: &str) -> Result<Template> {
    Template::parse(text).with_context(|| format!("{what}: bad template '{text}'"))
}

fn templates(what: &str, texts: &OneOrMany) -> Result<Vec<Template>> {
    texts.list().iter().map(|t| template(what, t)).collect()
}

fn opt_template(what: &str, text: &Option<String>) -> Result<Option<Template>> {
    text.as_deref().map(|t| template(what, t)).transpose()
}

impl FormatDescription {
    /// Parses and checks a description; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let raw: RawDescription = toml::from_str(text)
            .with_context(|| format!("{origin}: not a valid format description"))?;
        Self::compile(raw).with_context(|| format!("{origin}: not a valid format description"))
    }

    /// Reads a description file (`--format-file`).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    fn compile(raw: RawDescription) -> Result<Self> {
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if raw.name.is_empty() || !raw.name.chars().all(plain) {
            bail!("name '{}' must be letters, digits, '_' or '-'", raw.name);
        }
        if ["auto", "fits", "fits-table"].contains(&raw.name.as_str()) {
            bail!("name '{}' is reserved (--format auto|fits)", raw.name);
        }
        let ipac_delimiter = raw.delimiter == Delimiter::Ipac;
        if ipac_delimiter != (raw.names_from == NamesFrom::Ipac) {
            bail!("delimiter = \"ipac\" and names_from = \"ipac\" go together");
        }
        if raw.names_from == NamesFrom::Description && raw.columns.is_empty() {
            bail!("`columns` is required unless `names_from` is first_line or ipac");
        }
        if raw.bands.is_empty() {
            bail!("at least one [[bands]] is required");
        }
        let header = match (&raw.header.after, &raw.header.line) {
            (Some(_), Some(_)) => bail!("header: give `after` or `line`, not both"),
            (Some(a), None) => HeaderLine::After(regex("header.after", a)?),
            (None, Some(l)) => HeaderLine::Matching(regex("header.line", l)?),
            (None, None) => HeaderLine::None,
        };
        let star_id = templates("star.id", &raw.star.id)?;
        let field = templates("star.field", &raw.star.field)?;
        if star_id.is_empty() {
            bail!("star.id needs at least one template");
        }
        if field.is_empty() && !raw.star.conventions {
            bail!("star: give `field`, or `conventions = true` to take it from the star id");
        }
        let time_column = raw.time.column.list();
        if time_column.is_empty() {
            bail!("time.column is required");
        }
        let scale_from = match raw.time.scale_from.as_deref() {
            Some(t) => Some((
                template("time.scale_from", t)?,
                raw.time.scale_names.clone(),
            )),
            None => None,
        };
        Ok(FormatDescription {
            file_names: raw
                .file_names
                .iter()
                .map(|p| regex("file_names", p))
                .collect::<Result<_>>()?,
            auto: raw.auto,
            file_name_pattern: raw
                .file_name_pattern
                .as_deref()
                .map(|p| regex("file_name_pattern", p))
                .transpose()?,
            comment: raw.comment.filter(|c| !c.is_empty()),
            delimiter: raw.delimiter,
            names_from: raw.names_from,
            columns: raw.columns,
            min_columns: raw.min_columns,
            header,
            time_column,
            time_scale: raw.time.scale,
            scale_from,
            time_zero: raw.time.zero,
            abbreviated_zero: raw.time.abbreviated_zero,
            star_id,
            star_conventions: raw.star.conventions,
            field,
            radec: radec(&raw.star)?,
            bands: raw.bands.iter().map(compile_band).collect::<Result<_>>()?,
            band_names: raw.band_names,
            name: raw.name,
            survey: raw.survey,
            description: raw.description,
        })
    }

    /// The MJD of a time value of the file, as exact as a double allows: a full Julian
    /// Date loses 2400000 exactly before the half day; an abbreviated one adds
    /// (zero - 2400000.5) in one step (49999.5 for JD - 2450000).
    pub fn mjd(&self, value: f64, scale: TimeScale) -> f64 {
        let zero = match self.abbreviated_zero {
            Some(z) if value.abs() < 1.0e6 => z,
            _ => self.time_zero,
        };
        let offset = scale.mjd_offset();
        if zero == 0.0 && offset != 0.0 {
            (value - 2_400_000.0) - 0.5
        } else {
            value + (zero + offset)
        }
    }

    /// Whether a file name is one this layout comes in.
    pub fn matches_name(&self, name: &str) -> bool {
        self.file_names.iter().any(|r| r.is_match(name))
    }
}

fn radec(star: &RawStar) -> Result<Option<(Template, Template, bool)>> {
    match (&star.ra, &star.dec) {
        (Some(r), Some(d)) => {
            let hours = match star.ra_unit.as_deref() {
                None | Some("deg") => false,
                Some("hour") | Some("h") => true,
                Some(u) => bail!("star.ra_unit '{u}': expected deg or hour"),
            };
            Ok(Some((
                template("star.ra", r)?,
                template("star.dec", d)?,
                hours,
            )))
        }
        (None, None) => Ok(None),
        _ => bail!("star: give both ra and dec, or neither"),
    }
}

fn compile_band(b: &RawBand) -> Result<Band> {
    let band = templates("bands.band", &b.band)?;
    if band.is_empty() {
        bail!("bands.band is required");
    }
    let columns = [&b.mag, &b.mag_err, &b.flux, &b.flux_err].map(OneOrMany::list);
    if columns[0].is_empty() && columns[2].is_empty() {
        bail!("band {:?}: give `mag` or `flux`", b.band.list());
    }
    let header_xy = match (&b.header_x, &b.header_y) {
        (Some(x), Some(y)) => Some((template("header_x", x)?, template("header_y", y)?)),
        (None, None) => None,
        _ => bail!(
            "band {:?}: give both header_x and header_y, or neither",
            b.band.list()
        ),
    };
    Ok(Band {
        band,
        columns,
        zero_point: b.zero_point,
        missing: b.missing.clone(),
        missing_err: b.missing_err.clone(),
        missing_text: b
            .missing_text
            .iter()
            .map(|p| regex("missing_text", p))
            .collect::<Result<_>>()?,
        header_mag: opt_template("header_mag", &b.header_mag)?,
        header_xy,
    })
}
