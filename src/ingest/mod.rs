//! `skyql ingest`: FITS images and light-curve files into a catalogue version.
//!
//! FITS headers and light curves are parsed in parallel (rayon, `--jobs`); light curves
//! are processed in chunks of input bytes, each chunk written as one Parquet file per
//! field, sorted by star id then MJD, so that memory stays bounded by the chunk size.
//! Re-ingesting an input replaces what it gave before: images by path, measurements by
//! (star id, colour), star rows colour by colour. Every value read is written, counted
//! as missing (99.999 markers) or rejected with its file and line in `rejects/`.

pub mod discover;
pub mod fits_images;
pub mod lightcurve;
pub mod measurements;
pub mod rejects;
pub mod stars;
pub mod tables;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use datafusion::arrow::array::{Array, AsArray, StructArray};
use datafusion::arrow::record_batch::RecordBatch;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use skyql_udfs::wcs::PreparedWcs;
use skyql_udfs::wcs::arrow_struct::wcs_from_array;

use crate::catalog::manifest::{IngestRun, Manifest, TableEntry};
use crate::catalog::parquet_io::{parquet_rows, read_parquet, write_parquet, write_stars_parquet};
use crate::catalog::{WriteLock, version_dir_name};
use crate::conventions::Conventions;
use crate::schema::{self, SCHEMA_VERSION};
pub use discover::InputFormat;
use discover::{InputFile, discover};
use fits_images::{ImageRow, images_batch, read_image};
use lightcurve::{Counts, LightCurve, RejectedFile, parse_eros, parse_macho};
use rejects::{Reject, Severity, write_rejects};
use stars::{StarRecord, stars_batch, stars_from_batch};
use tables::{InputRow, fields_batch, inputs_batch, inputs_from_batches, quarters_batch};

/// Light-curve bytes parsed and held in memory at once.
pub const CHUNK_BYTES: u64 = 96 * 1024 * 1024;

/// What to ingest, where, how.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Files or directories.
    pub inputs: Vec<PathBuf>,
    /// Catalogue directory (created if absent).
    pub catalog: PathBuf,
    /// Forced format, else by file name.
    pub format: Option<InputFormat>,
    /// Worker threads (default: all cores).
    pub jobs: Option<usize>,
    /// Survey conventions.
    pub conventions: Conventions,
    /// Show a progress bar on a terminal.
    pub progress: bool,
}

/// The outcome of an ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestReport {
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
    /// Rejections and warnings.
    pub rejects: Vec<Reject>,
    /// Rejects file.
    pub rejects_file: PathBuf,
    /// Stars with a position from a reference image.
    pub stars_located: u64,
    /// Stars of this run's fields without any position.
    pub stars_without_position: u64,
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

/// Runs an ingest and publishes the new catalogue version.
pub fn ingest(opts: &IngestOptions) -> Result<IngestReport> {
    let start = Instant::now();
    let _lock = WriteLock::acquire(&opts.catalog)?;
    let catalog = &opts.catalog;
    let previous = Manifest::read(catalog)?;
    let prev_dir = previous.as_ref().map(|m| catalog.join(&m.version_dir));
    let version = previous.as_ref().map_or(1, |m| m.version + 1);
    remove_partial_versions(catalog);
    let staging = catalog.join(format!(".{}.partial", version_dir_name(version)));
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;

    let found = discover(&opts.inputs, opts.format);
    let mut report = IngestReport {
        version,
        files_skipped: found.skipped,
        files_rejected: found.rejects.len() as u64,
        rejects: found.rejects,
        ..IngestReport::default()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.unwrap_or(0))
        .build()
        .context("cannot start worker threads")?;
    let bar = progress_bar(found.files.len() as u64, opts.progress);
    let mut inputs: BTreeMap<String, InputRow> = BTreeMap::new();
    let input_row = |f: &InputFile, c: Counts| InputRow {
        path: f.path.display().to_string(),
        format: f.format.name().to_string(),
        size: f.size as i64,
        run: version as i64,
        read: c.read as i64,
        written: c.written as i64,
        missing: c.missing as i64,
        rejected: c.rejected as i64,
    };

    // 1. FITS headers.
    let fits: Vec<&InputFile> = found
        .files
        .iter()
        .filter(|f| f.format == InputFormat::Fits)
        .collect();
    let parsed: Vec<_> = pool.install(|| {
        fits.par_iter()
            .map(|f| {
                let r = read_image(&f.path, f.size, &opts.conventions);
                bar.inc(1);
                r
            })
            .collect()
    });
    let mut image_rows: Vec<ImageRow> = Vec::new();
    for (f, r) in fits.iter().zip(parsed) {
        report.files_read += 1;
        report.bytes_read += f.size;
        let one = |written: u64| Counts {
            read: 1,
            written,
            missing: 0,
            rejected: 1 - written,
        };
        match r {
            Ok((row, warnings)) => {
                report.rejects.extend(warnings);
                image_rows.push(row);
                inputs.insert(f.path.display().to_string(), input_row(f, one(1)));
            }
            Err(reject) => {
                report.files_rejected += 1;
                report.rejects.push(reject);
                inputs.insert(f.path.display().to_string(), input_row(f, one(0)));
            }
        }
    }
    report.images_written = image_rows.len() as u64;

    // 2. Light curves, chunk by chunk.
    let curves: Vec<&InputFile> = found
        .files
        .iter()
        .filter(|f| f.format != InputFormat::Fits)
        .collect();
    let mut new_keys: HashMap<(String, u8), String> = HashMap::new();
    let mut new_stars: BTreeMap<String, BTreeMap<String, (StarRecord, Vec<u8>)>> = BTreeMap::new();
    for (chunk_no, chunk) in chunk_by_bytes(&curves, CHUNK_BYTES).into_iter().enumerate() {
        let parsed: Vec<Result<LightCurve, RejectedFile>> = pool.install(|| {
            chunk
                .par_iter()
                .map(|f| {
                    let r = read_lightcurve(f, &opts.conventions);
                    bar.inc(1);
                    r
                })
                .collect()
        });
        let mut by_field: BTreeMap<String, Vec<LightCurve>> = BTreeMap::new();
        for (f, r) in chunk.iter().zip(parsed) {
            report.files_read += 1;
            report.bytes_read += f.size;
            match r {
                Ok(mut lc) => {
                    // The same star and colour twice in one ingest: the first file wins.
                    let dup = lc
                        .colours
                        .iter()
                        .find_map(|c| new_keys.get(&(lc.star_id.clone(), *c)).cloned());
                    if let Some(first) = dup {
                        lc.counts.rejected += lc.counts.written;
                        lc.counts.written = 0;
                        report.rejects.push(Reject::rejected(
                            &f.path,
                            "file",
                            format!(
                                "star {} already given by {first} in this ingest; not written",
                                lc.star_id
                            ),
                        ));
                        report.values.add(lc.counts);
                        inputs.insert(f.path.display().to_string(), input_row(f, lc.counts));
                        continue;
                    }
                    for c in &lc.colours {
                        new_keys.insert((lc.star_id.clone(), *c), lc.source.clone());
                    }
                    report.values.add(lc.counts);
                    report.rejects.append(&mut lc.rejects);
                    inputs.insert(f.path.display().to_string(), input_row(f, lc.counts));
                    by_field.entry(lc.field.clone()).or_default().push(lc);
                }
                Err(RejectedFile { reject, counts }) => {
                    report.files_rejected += 1;
                    report.rejects.push(reject);
                    report.values.add(counts);
                    inputs.insert(f.path.display().to_string(), input_row(f, counts));
                }
            }
        }
        // One Parquet file per field of this chunk, written in parallel.
        pool.install(|| {
            by_field
                .par_iter()
                .map(|(field, lcs)| {
                    let refs: Vec<&LightCurve> = lcs.iter().collect();
                    let batch = measurements::measurements_batch(&refs)?;
                    let path = staging
                        .join("measurements")
                        .join(format!("field={field}"))
                        .join(format!("part-{version:06}-{chunk_no:04}.parquet"));
                    write_parquet(&path, schema::measurements_file_schema(), &[batch])
                })
                .collect::<Result<Vec<u64>>>()
        })?;
        for (field, lcs) in &by_field {
            let stars = new_stars.entry(field.clone()).or_default();
            for lc in lcs {
                let rec = StarRecord::from_lightcurve(lc);
                match stars.get_mut(&lc.star_id) {
                    Some((existing, colours)) => {
                        existing.merge(rec, &lc.colours);
                        colours.extend(&lc.colours);
                    }
                    None => {
                        stars.insert(lc.star_id.clone(), (rec, lc.colours.clone()));
                    }
                }
            }
        }
    }
    bar.finish_and_clear();

    // 3. Merge with the previous version.
    let replaced: HashSet<(String, u8)> = new_keys.into_keys().collect();
    let new_paths: HashSet<&str> = image_rows.iter().map(|r| r.path.as_str()).collect();
    let mut images: Vec<RecordBatch> = Vec::new();
    if let Some(prev) = &prev_dir {
        let old = prev.join("images.parquet");
        if old.exists() {
            for b in read_parquet(&old)? {
                images.push(without_paths(&b, &new_paths)?);
            }
        }
    }
    images.push(images_batch(&image_rows)?);
    write_parquet(
        &staging.join("images.parquet"),
        schema::images_schema(),
        &images,
    )?;

    if let Some(prev) = &prev_dir {
        carry_measurements(prev, &staging, &replaced, &new_stars)?;
    }

    // 4. Stars: merge, then positions from the reference images.
    let references = reference_wcs(&images)?;
    let new_reference_fields: BTreeSet<String> = image_rows
        .iter()
        .filter(|r| r.name.code.as_deref() == Some("d"))
        .filter_map(|r| r.name.field.clone())
        .collect();
    let mut fields_to_write: BTreeSet<String> = new_stars.keys().cloned().collect();
    let old_star_fields = prev_dir
        .as_ref()
        .map(|p| field_dirs(&p.join("stars")))
        .unwrap_or_default();
    fields_to_write.extend(
        new_reference_fields
            .intersection(&old_star_fields.keys().cloned().collect())
            .cloned(),
    );
    for (field, dir) in &old_star_fields {
        if !fields_to_write.contains(field) {
            link_dir(dir, &staging.join("stars").join(format!("field={field}")))?;
        }
    }
    for field in &fields_to_write {
        let mut records: BTreeMap<String, StarRecord> = BTreeMap::new();
        if let Some(dir) = old_star_fields.get(field) {
            for file in parquet_files(dir)? {
                for b in read_parquet(&file)? {
                    for r in stars_from_batch(field, &b)? {
                        records.insert(r.star_id.clone(), r);
                    }
                }
            }
        }
        for (id, (rec, colours)) in new_stars.remove(field).unwrap_or_default() {
            match records.get_mut(&id) {
                Some(old) => old.merge(rec, &colours),
                None => {
                    records.insert(id, rec);
                }
            }
        }
        for r in records.values_mut() {
            if r.locate(&references) {
                if r.position_source.as_deref() != Some(stars::HEADER_POSITION) {
                    report.stars_located += 1;
                }
            } else if r.radec.is_none() {
                report.stars_without_position += 1;
            }
        }
        let path = staging
            .join("stars")
            .join(format!("field={field}"))
            .join(format!("part-{version:06}.parquet"));
        write_stars_parquet(&path, stars_batch(&records)?)?;
    }
    if report.stars_without_position > 0 {
        report.rejects.push(Reject::warning(
            Path::new(catalog),
            "stars",
            format!(
                "{} stars have no reference image for their quarter in the catalogue: ra/dec null (ingest the reference images to fill them)",
                report.stars_without_position
            ),
        ));
    }

    // 5. Small tables.
    write_parquet(
        &staging.join("fields.parquet"),
        schema::fields_schema(),
        &[fields_batch(&images)?],
    )?;
    write_parquet(
        &staging.join("quarters.parquet"),
        schema::quarters_schema(),
        &[quarters_batch(&opts.conventions)?],
    )?;
    let mut all_inputs = match &prev_dir {
        Some(p) if p.join("inputs.parquet").exists() => {
            inputs_from_batches(&read_parquet(&p.join("inputs.parquet"))?)?
        }
        _ => BTreeMap::new(),
    };
    all_inputs.extend(inputs);
    write_parquet(
        &staging.join("inputs.parquet"),
        schema::inputs_schema(),
        &[inputs_batch(&all_inputs)?],
    )?;

    // 6. Rejects, manifest, publish.
    let rejects_rel = format!("rejects/ingest-{version:06}.tsv");
    report.rejects_file = catalog.join(&rejects_rel);
    write_rejects(&report.rejects_file, &report.rejects)?;
    let tables = table_entries(&staging)?;
    report.table_rows = tables.iter().map(|(k, v)| (k.clone(), v.rows)).collect();
    let final_dir = catalog.join(version_dir_name(version));
    std::fs::rename(&staging, &final_dir)
        .with_context(|| format!("cannot publish {}", final_dir.display()))?;
    report.seconds = start.elapsed().as_secs_f64();
    let mut runs = previous
        .as_ref()
        .map(|m| m.runs.clone())
        .unwrap_or_default();
    runs.push(IngestRun {
        version,
        finished_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        inputs: opts
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        files_read: report.files_read,
        files_rejected: report.files_rejected,
        bytes_read: report.bytes_read,
        rows_read: report.values.read + fits.len() as u64,
        rows_written: report.values.written + report.images_written,
        rows_missing: report.values.missing,
        rows_rejected: report.values.rejected + (fits.len() as u64 - report.images_written),
        rejects_file: rejects_rel,
        seconds: report.seconds,
    });
    let manifest = Manifest {
        format: "skyql-catalog".into(),
        schema_version: SCHEMA_VERSION,
        writer: format!("skyql {}", env!("CARGO_PKG_VERSION")),
        survey: opts.conventions.survey.clone(),
        version,
        version_dir: version_dir_name(version),
        tables,
        input_files: all_inputs.len() as u64,
        input_bytes: all_inputs.values().map(|r| r.size as u64).sum(),
        runs,
    };
    manifest.write(catalog)?;
    if let Some(prev) = prev_dir
        && prev != final_dir
    {
        let _ = std::fs::remove_dir_all(prev);
    }
    Ok(report)
}

fn progress_bar(len: u64, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} ingest [{bar:40}] {pos}/{len} files ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn remove_partial_versions(catalog: &Path) {
    if let Ok(entries) = std::fs::read_dir(catalog) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(".v") && name.ends_with(".partial") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

fn chunk_by_bytes<'a>(files: &[&'a InputFile], limit: u64) -> Vec<Vec<&'a InputFile>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for f in files {
        if !current.is_empty() && bytes + f.size > limit {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += f.size;
        current.push(*f);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

fn read_lightcurve(f: &InputFile, conventions: &Conventions) -> Result<LightCurve, RejectedFile> {
    let bytes = std::fs::read(&f.path).map_err(|e| {
        RejectedFile::new(
            Reject::rejected(&f.path, "file", format!("cannot read: {e}")),
            0,
        )
    })?;
    let text = String::from_utf8_lossy(&bytes);
    match f.format {
        InputFormat::Macho => parse_macho(&f.path, &text),
        _ => parse_eros(&f.path, &text, conventions),
    }
}

fn without_paths(batch: &RecordBatch, paths: &HashSet<&str>) -> Result<RecordBatch> {
    let col = batch
        .column_by_name("path")
        .context("images without path")?
        .as_string::<i32>()
        .clone();
    let keep: datafusion::arrow::array::BooleanArray = (0..batch.num_rows())
        .map(|i| Some(!paths.contains(col.value(i))))
        .collect();
    Ok(datafusion::arrow::compute::filter_record_batch(
        batch, &keep,
    )?)
}

/// Reference-image WCS by (field, ccd, quarter, colour).
type References = HashMap<(String, i32, String, u8), (PreparedWcs, String)>;

fn reference_wcs(images: &[RecordBatch]) -> Result<References> {
    let mut out = HashMap::new();
    for b in images {
        let s = |n: &str| b.column_by_name(n).map(|c| c.as_string::<i32>().clone());
        let (Some(field), Some(quarter), Some(colour), Some(code), Some(path)) =
            (s("field"), s("quarter"), s("colour"), s("code"), s("path"))
        else {
            continue;
        };
        let ccd = b
            .column_by_name("ccd")
            .map(|c| {
                c.as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                    .clone()
            })
            .context("images without ccd")?;
        let wcs = b
            .column_by_name("wcs")
            .and_then(|c| c.as_any().downcast_ref::<StructArray>().cloned())
            .context("images without wcs")?;
        for i in 0..b.num_rows() {
            if code.is_null(i)
                || code.value(i) != "d"
                || field.is_null(i)
                || ccd.is_null(i)
                || quarter.is_null(i)
                || colour.is_null(i)
            {
                continue;
            }
            let Some(w) = wcs_from_array(&wcs, i)? else {
                continue;
            };
            let Ok(p) = w.prepare() else { continue };
            let c = colour.value(i).as_bytes().first().copied().unwrap_or(b'R');
            out.insert(
                (
                    field.value(i).to_string(),
                    ccd.value(i),
                    quarter.value(i).to_string(),
                    c,
                ),
                (p, path.value(i).to_string()),
            );
        }
    }
    Ok(out)
}

/// `field=X` subdirectories of a partitioned table, by field.
fn field_dirs(table: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(table) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(field) = name.strip_prefix("field=") {
                out.insert(field.to_string(), e.path());
            }
        }
    }
    out
}

fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    Ok(files)
}

/// Hard-links (or copies) every Parquet file of `from` into `to`.
fn link_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for f in parquet_files(from)? {
        let dest = to.join(f.file_name().context("file without a name")?);
        link_or_copy(&f, &dest)?;
    }
    Ok(())
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// Carries the previous measurements over: files of fields this ingest touches are
/// filtered of the replaced (star, colour) rows; the others are hard-linked unchanged.
fn carry_measurements(
    prev: &Path,
    staging: &Path,
    replaced: &HashSet<(String, u8)>,
    new_stars: &BTreeMap<String, BTreeMap<String, (StarRecord, Vec<u8>)>>,
) -> Result<()> {
    for (field, dir) in field_dirs(&prev.join("measurements")) {
        let target = staging.join("measurements").join(format!("field={field}"));
        std::fs::create_dir_all(&target)?;
        let touched = new_stars.contains_key(&field);
        for file in parquet_files(&dir)? {
            let dest = target.join(file.file_name().context("file without a name")?);
            if !touched {
                link_or_copy(&file, &dest)?;
                continue;
            }
            let mut kept = Vec::new();
            let mut removed = 0;
            for b in read_parquet(&file)? {
                let (k, r) = measurements::without_replaced(&b, replaced)?;
                removed += r;
                kept.push(k);
            }
            if removed == 0 {
                link_or_copy(&file, &dest)?;
            } else if kept.iter().any(|b| b.num_rows() > 0) {
                write_parquet(&dest, schema::measurements_file_schema(), &kept)?;
            }
        }
    }
    Ok(())
}

/// The manifest entries of every table written in `version_dir`.
pub(crate) fn table_entries(version_dir: &Path) -> Result<BTreeMap<String, TableEntry>> {
    let mut out = BTreeMap::new();
    for table in schema::TABLES {
        let partitions: Vec<String> = schema::partition_columns(table)
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (path, files) = if partitions.is_empty() {
            let p = format!("{table}.parquet");
            let f = version_dir.join(&p);
            (p, if f.exists() { vec![f] } else { vec![] })
        } else {
            let dir = version_dir.join(table);
            std::fs::create_dir_all(&dir)?;
            let mut files = Vec::new();
            for d in field_dirs(&dir).values() {
                files.extend(parquet_files(d)?);
            }
            (table.to_string(), files)
        };
        let mut rows = 0;
        for f in &files {
            rows += parquet_rows(f)?;
        }
        out.insert(
            table.to_string(),
            TableEntry {
                path,
                rows,
                files: files.len() as u64,
                partition_columns: partitions,
            },
        );
    }
    Ok(out)
}
