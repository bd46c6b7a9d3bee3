//! `skyql generate --catalog DIR --measurements N`: a large synthetic survey written
//! straight to a catalogue (Parquet, no text files in between), in the layout an ingest
//! writes (versioned directory, manifest, `measurements` and `stars` partitioned by field,
//! sorted by star id and MJD, and by HEALPix for stars).
//!
//! The statistical shape is the demo's: EROS-2 fields on the LMC grid, 8 CCDs x 4 quarters
//! with uneven star densities, per-field epochs in observing seasons, about 5 per cent of
//! values missing, 6 per cent periodic variables and microlensing events. Stars have ids in
//! the EROS-2 convention (`lm0553k12345`), so a star id names its field, CCD and quarter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use rayon::prelude::*;

use super::rng::Rng;
use super::sky::{EventWindow, Variability, draw_variability, field_centre, mag_error};
use super::truth::{EventTruth, PeriodicTruth, write_truth_tables};
use crate::catalog::manifest::IngestRun;
use crate::catalog::parquet_io::{write_parquet, write_stars_parquet};
use crate::catalog::version::{VersionRecord, VersionWriter};
use crate::conventions::{Conventions, StarIdParts};
use crate::ingest::lightcurve::{ColourHeader, Counts, LightCurve, Point};
use crate::ingest::measurements::measurements_batch;
use crate::ingest::stars::{StarRecord, stars_batch};
use crate::ingest::tables::{fields_batch, inputs_batch, quarters_batch};
use crate::schema;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take_record_batch,
};

/// Size of a bulk survey.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkConfig {
    /// Measurements to write (about: missing values make it vary by a few per cent).
    pub measurements: u64,
    /// Stars (default: measurements / 200, at least one per field).
    pub stars: Option<u64>,
    /// Fields (default: one per 10^7 measurements, 1 to 88).
    pub fields: Option<u32>,
    /// Seed.
    pub seed: u64,
    /// Microlensing events per field (default: one per 1,000 stars).
    pub events_per_field: Option<u64>,
    /// Fraction of the other stars that are periodic variables.
    pub periodic_fraction: f64,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct BulkReport {
    /// Fields.
    pub fields: u32,
    /// Stars.
    pub stars: u64,
    /// Measurements written.
    pub measurements: u64,
    /// Microlensing events injected.
    pub events: u64,
    /// Periodic variables injected.
    pub periodic: u64,
    /// Seconds.
    pub seconds: f64,
}

/// Rows per measurements file (a few row groups each).
const ROWS_PER_FILE: u64 = 4_000_000;
/// Stars per stars file (a field's stars are cut into files in HEALPix order).
const STARS_PER_FILE: usize = 200_000;
/// Side of an EROS-2 CCD in degrees (2048 pixels of 0.602 arcsec).
const CCD_DEG: f64 = 2048.0 * 0.602 / 3600.0;

/// One star of the bulk survey.
struct BulkStar {
    id: String,
    ccd: i32,
    quarter: String,
    radec: (f64, f64),
    xy: (f64, f64),
    mag_r: f64,
    mag_b: f64,
    variability: Variability,
}

/// Fields, stars and epochs per field for a survey of `config.measurements`: about 10^7
/// measurements and at most 10^6 stars per field (a field is written by one thread), and
/// epochs so that stars x epochs x 2 colours x 95% ~ measurements.
fn survey_size(config: &BulkConfig) -> (u32, u64, usize) {
    let n_stars = config.stars.unwrap_or(config.measurements / 200).max(1);
    let n_fields = config
        .fields
        .unwrap_or_else(|| {
            (config.measurements / 10_000_000)
                .max(n_stars / 1_000_000)
                .clamp(1, 88) as u32
        })
        .clamp(1, 88);
    let n_stars = n_stars.max(n_fields as u64);
    let epochs = if config.measurements == 0 {
        0
    } else {
        ((config.measurements as f64 / (n_stars as f64 * 2.0 * 0.95)).round() as usize).max(1)
    };

    (n_fields, n_stars, epochs)
}

/// The small tables of a generated catalogue: no images, fields or inputs; the quarters
/// of the conventions.
fn write_small_tables(staging: &Path, conventions: &Conventions) -> Result<()> {
    write_parquet(
        &staging.join("images.parquet"),
        schema::images_schema(),
        &[datafusion::arrow::record_batch::RecordBatch::new_empty(
            schema::images_schema(),
        )],
    )?;
    write_parquet(
        &staging.join("fields.parquet"),
        schema::fields_schema(),
        &[fields_batch(&[])?],
    )?;
    write_parquet(
        &staging.join("quarters.parquet"),
        schema::quarters_schema(),
        &[quarters_batch(conventions)?],
    )?;
    write_parquet(
        &staging.join("inputs.parquet"),
        schema::inputs_schema(),
        &[inputs_batch(&BTreeMap::new())?],
    )?;
    Ok(())
}

/// Writes a new catalogue at `catalog` (which must not hold one).
pub fn generate_catalog(catalog: &Path, config: &BulkConfig) -> Result<BulkReport> {
    let started = Instant::now();
    if catalog
        .join(crate::catalog::manifest::MANIFEST_FILE)
        .exists()
    {
        bail!(
            "{} already holds a catalogue: give a new directory",
            catalog.display()
        );
    }
    let writer = VersionWriter::begin(catalog)?;
    let staging = writer.staging().to_path_buf();
    let conventions = Conventions::eros2()?;
    let (n_fields, n_stars, epochs) = survey_size(config);
    let per_field: Vec<(u32, u64)> = (0..n_fields)
        .map(|i| {
            let share =
                n_stars / n_fields as u64 + u64::from((i as u64) < n_stars % n_fields as u64);
            (i + 1, share)
        })
        .collect();
    if !(0.0..=1.0).contains(&config.periodic_fraction) {
        bail!("--periodic-fraction must be between 0 and 1");
    }
    let results: Vec<Result<FieldWritten>> = per_field
        .par_iter()
        .map(|&(number, stars)| write_field(&staging, &conventions, config, number, stars, epochs))
        .collect();
    let mut report = BulkReport {
        fields: n_fields,
        ..BulkReport::default()
    };
    let (mut events, mut periodic) = (Vec::new(), Vec::new());
    for r in results {
        let written = r?;
        report.stars += written.stars;
        report.measurements += written.measurements;
        events.extend(written.events);
        periodic.extend(written.periodic);
    }
    write_small_tables(&staging, &conventions)?;
    report.seconds = started.elapsed().as_secs_f64();
    writer.publish(VersionRecord {
        conventions: &conventions,
        run: IngestRun {
            version: 1,
            finished_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            inputs: vec![format!(
                "generated: {} measurements, {} stars, seed {}",
                config.measurements, n_stars, config.seed
            )],
            rows_read: report.measurements,
            rows_written: report.measurements,
            seconds: report.seconds,
            ..IngestRun::default()
        },
        input_files: 0,
        input_bytes: 0,
    })?;
    // The injected truth beside the catalogue's versions (not part of any version).
    write_truth_tables(&catalog.join("truth"), &events, &periodic)?;
    report.events = events.len() as u64;
    report.periodic = periodic.len() as u64;
    Ok(report)
}

/// What one field wrote, and the truth of its variable stars.
struct FieldWritten {
    stars: u64,
    measurements: u64,
    events: Vec<EventTruth>,
    periodic: Vec<PeriodicTruth>,
}

/// The epochs of a field: `n` nights in observing seasons (July to March) of 1996-2003.
fn field_epochs(rng: &mut Rng, n: usize) -> Vec<f64> {
    let mut mjds: Vec<f64> = (0..n)
        .map(|_| {
            loop {
                let t = rng.range(50_266.0, 52_822.0);
                // Seasons: the LMC is badly placed from April to June.
                let day_of_year = (t - 50_083.0).rem_euclid(365.25);
                if !(90.0..180.0).contains(&day_of_year) {
                    break t + 0.1 * rng.uniform();
                }
            }
        })
        .collect();
    mjds.sort_by(f64::total_cmp);
    mjds
}

fn write_field(
    staging: &Path,
    conventions: &Conventions,
    config: &BulkConfig,
    number: u32,
    n_stars: u64,
    epochs: usize,
) -> Result<FieldWritten> {
    let field = format!("lm{number:03}");
    let mut rng = Rng::new(config.seed, &[number as u64]);
    let mjds = field_epochs(&mut rng, epochs);
    let events = config.events_per_field.unwrap_or(n_stars / 1000);
    let stars = draw_stars(
        conventions,
        &mut rng,
        number,
        n_stars,
        &mjds,
        (events, config.periodic_fraction),
    );
    let truth_events: Vec<EventTruth> = stars
        .iter()
        .filter_map(|s| EventTruth::of(&s.id, &s.variability))
        .collect();
    let truth_periodic: Vec<PeriodicTruth> = stars
        .iter()
        .filter_map(|s| PeriodicTruth::of(&s.id, &s.variability))
        .collect();

    // Measurements, written in files of about ROWS_PER_FILE rows, stars in id order.
    let dir = staging.join("measurements").join(format!("field={field}"));
    let per_star = (mjds.len() * 2) as u64;
    let stars_per_chunk = ((ROWS_PER_FILE / per_star.max(1)).max(1) as usize).min(STARS_PER_FILE);
    let mut written = 0u64;
    // The field's star rows, as compact Arrow batches (each sorted by HEALPix), sorted
    // together and cut into files once the field is done (`write_star_files`).
    let mut star_batches = Vec::new();
    for (k, chunk) in stars.chunks(stars_per_chunk).enumerate() {
        let mut curves = Vec::with_capacity(chunk.len());
        let mut records: BTreeMap<String, StarRecord> = BTreeMap::new();
        for s in chunk {
            let lc = light_curve(s, &field, &mjds, &mut rng);
            written += lc.points.len() as u64;
            // The star's row as an ingest makes it from its light curve (counts and mean
            // magnitudes per colour), positioned by the generator.
            let mut record = StarRecord::from_lightcurve(&lc);
            record.survey = conventions.survey.clone();
            record.position_source = Some("generated".into());
            record.sources = Default::default();
            records.insert(s.id.clone(), record);
            curves.push(lc);
        }
        star_batches.push(stars_batch(&records)?);
        if curves.iter().all(|c| c.points.is_empty()) {
            continue;
        }
        let refs: Vec<&LightCurve> = curves.iter().collect();
        let batch = measurements_batch(&refs)?;
        let path: PathBuf = dir.join(format!("part-{k:05}.parquet"));
        write_parquet(&path, schema::measurements_file_schema(), &[batch])?;
    }
    let n_stars = stars.len() as u64;
    // The drawn stars are no longer needed: only their rows are held while they are sorted.
    drop(stars);
    let stars_dir = staging.join("stars").join(format!("field={field}"));
    write_star_files(&stars_dir, star_batches)?;
    Ok(FieldWritten {
        stars: n_stars,
        measurements: written,
        events: truth_events,
        periodic: truth_periodic,
    })
}

/// Writes a field's star rows in files of [`STARS_PER_FILE`] rows, all sorted by HEALPix
/// cell (then star id) across the files, as an ingest sorts its one file per field: each
/// file then covers its own range of cells, which the manifest records, and a cone opens
/// the files of its cells only. At least one file, empty for a field without stars.
///
/// The field's star rows are held once, in Arrow form (about 150 bytes a star), while
/// they are sorted; each file takes its rows from them, so the memory grows with the
/// stars of a field (two fields at a time), not with the catalogue.
fn write_star_files(dir: &Path, batches: Vec<RecordBatch>) -> Result<()> {
    let schema = schema::stars_file_schema();
    let all = concat_batches(&schema, &batches)?;
    drop(batches);
    let key = |name: &str| -> Result<SortColumn> {
        Ok(SortColumn {
            values: all.column(schema.index_of(name)?).clone(),
            options: Some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
        })
    };
    let order = lexsort_to_indices(&[key("healpix")?, key("star_id")?], None)?;
    let rows = all.num_rows();
    for file in 0..rows.div_ceil(STARS_PER_FILE).max(1) {
        let start = file * STARS_PER_FILE;
        let len = STARS_PER_FILE.min(rows - start);
        let path = dir.join(format!("part-{file:05}.parquet"));
        write_stars_parquet(&path, take_record_batch(&all, &order.slice(start, len))?)?;
    }
    Ok(())
}

/// The stars of field `number`, spread over its CCD quarters with uneven densities,
/// sorted by id; `(events, periodic_fraction)`: microlensing events evenly spread over
/// the field's stars, and the fraction of the others made periodic.
fn draw_stars(
    conventions: &Conventions,
    rng: &mut Rng,
    number: u32,
    n_stars: u64,
    mjds: &[f64],
    (events, periodic_fraction): (u64, f64),
) -> Vec<BulkStar> {
    let field = format!("lm{number:03}");
    let centre = field_centre(number);
    // Uneven quarters: a density weight per CCD quarter.
    let quarters: Vec<String> = conventions.quarters.keys().cloned().collect();
    let ccds = conventions.ccd_count();
    let mut cells: Vec<(i32, String, f64)> = Vec::new();
    for ccd in 0..ccds {
        for q in &quarters {
            cells.push((ccd, q.clone(), rng.range(0.2, 1.8)));
        }
    }
    let total: f64 = cells.iter().map(|c| c.2).sum();
    let mut stars: Vec<BulkStar> = Vec::with_capacity(n_stars as usize);
    let mut assigned = 0u64;
    // Index of the star in the field, to spread the events evenly.
    let mut drawn = 0u64;
    let span = (mjds.len() > 1)
        .then(|| (mjds[0], mjds[mjds.len() - 1]))
        .filter(|(a, b)| b - a > 400.0);
    for (k, (ccd, q, w)) in cells.iter().enumerate() {
        let count = if k + 1 == cells.len() {
            n_stars - assigned
        } else {
            ((n_stars as f64 * w / total).round() as u64).min(n_stars - assigned)
        };
        assigned += count;
        let (ox, oy) = conventions.quarter_offset(*ccd, q).unwrap_or((0.0, 0.0));
        for i in 0..count {
            let (u, v) = (rng.uniform() - 0.5, rng.uniform() - 0.5);
            let dec = centre.1 + (oy + 0.5 * v) * CCD_DEG;
            let ra = centre.0 - (ox + 0.5 * u) * CCD_DEG / dec.to_radians().cos();
            let mag_r = 16.0 + 5.0 * rng.uniform().powf(0.4);
            let colour = rng.range(0.1, 0.6);
            // An event where the running share of events steps up, else the demo's draw;
            // EROS-like Einstein times.
            let is_event = (drawn + 1) * events / n_stars.max(1) > drawn * events / n_stars.max(1);
            drawn += 1;
            let event = span.filter(|_| is_event).map(|span| EventWindow {
                span,
                te: (25.0, 80.0),
            });
            let variability = draw_variability(rng, event, periodic_fraction);
            stars.push(BulkStar {
                // Five-digit numbers keep string order equal to numeric order.
                id: format!("{field}{ccd}{q}{}", 10_000 + i),
                ccd: *ccd,
                quarter: q.clone(),
                radec: (ra, dec),
                xy: (1.0 + 1023.0 * (u + 0.5), 1.0 + 1023.0 * (v + 0.5)),
                mag_r,
                mag_b: mag_r + colour,
                variability,
            });
        }
    }
    stars.sort_by(|a, b| a.id.cmp(&b.id));
    stars
}

/// A star's light curve at the field's epochs (5% of the points missing).
fn light_curve(s: &BulkStar, field: &str, mjds: &[f64], rng: &mut Rng) -> LightCurve {
    let mut points = Vec::with_capacity(mjds.len() * 2);
    for &t in mjds {
        for (colour, base) in [(b'R', s.mag_r), (b'B', s.mag_b)] {
            if rng.uniform() < 0.05 {
                continue;
            }
            let c = if colour == b'B' { "B" } else { "R" };
            let mag = base + s.variability.delta_mag(t, c);
            let err = mag_error(mag);
            points.push(Point {
                colour,
                mjd: t,
                mag: (mag + err * rng.normal()) as f32,
                mag_err: err as f32,
                flux: f64::NAN,
                flux_err: f32::NAN,
            });
        }
    }
    LightCurve {
        star_id: s.id.clone(),
        survey: "EROS-2",
        format: "eros",
        time_scale: "UTC",
        field: field.to_string(),
        parts: Some(StarIdParts {
            field: field.to_string(),
            ccd: s.ccd,
            quarter: s.quarter.clone(),
            number: 0,
        }),
        colours: vec![b'R', b'B'],
        header: [
            ColourHeader {
                mag: Some(s.mag_r),
                xy: Some(s.xy),
            },
            ColourHeader {
                mag: Some(s.mag_b),
                xy: Some(s.xy),
            },
        ],
        header_radec: Some(s.radec),
        points,
        counts: Counts::default(),
        rejects: Vec::new(),
        source: String::new(),
    }
}
