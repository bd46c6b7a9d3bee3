//! One ingest run: inputs found, FITS images and tables read, light curves read in chunks
//! and written per field, the previous version carried over, stars merged and placed,
//! the small tables written, the version published.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::record_batch::RecordBatch;
use rayon::prelude::*;

use super::carry_over::{carry_measurements, field_dirs, link_dir, link_or_copy};
use super::discover::{InputFile, InputFormat, discover};
use super::fits_images::{ImageRow, images_batch, read_image};
use super::lightcurve::{Counts, LightCurve, RejectedFile};
use super::references::{References, reference_wcs};
use super::rejects::{self, Reject, write_rejects};
use super::report::IngestReport;
use super::stars::{self, StarRecord, stars_batch};
use super::tables::{InputRow, fields_batch, inputs_batch, inputs_from_batches, quarters_batch};
use super::{
    CHUNK_BYTES, IngestOptions, described, fits_tables, measurements, path_text, same_id,
    table_files,
};
use crate::catalog::manifest::IngestRun as RunRecord;
use crate::catalog::parquet_io::{read_parquet, write_parquet, write_stars_parquet};
use crate::catalog::version::{VersionRecord, VersionWriter};
use crate::conventions::Conventions;
use crate::schema;

/// Runs an ingest and publishes the new catalogue version.
pub fn ingest(opts: &IngestOptions) -> Result<IngestReport> {
    let start = Instant::now();
    // Refused before any work, not after it: a named input that does not exist (a
    // misspelt path is the user's mistake, not a rejected file of a new version), and a
    // linked rejects directory.
    for input in &opts.inputs {
        if let Err(e) = std::fs::symlink_metadata(input) {
            bail!(
                "cannot read the input {}: {e}; nothing was ingested",
                input.display()
            );
        }
    }
    for (name, path) in &opts.tables {
        if let Err(e) = std::fs::symlink_metadata(path) {
            bail!(
                "cannot read the table {name}'s file {}: {e}; nothing was ingested",
                path.display()
            );
        }
        fits_tables::check_table_name(name).map_err(anyhow::Error::msg)?;
    }
    rejects::check_rejects_dir(&opts.catalog.join(rejects::REJECTS_DIR))?;
    let writer = VersionWriter::begin(&opts.catalog)?;
    let found = discover(&opts.inputs, opts.format);
    let mut run = IngestRun::new(opts, &writer, found.files.len() as u64)?;
    run.report.files_skipped = found.skipped;
    run.report.files_rejected = found.rejects.len() as u64;
    run.report.rejects = found.rejects;
    for path in &found.skipped_files {
        run.report.rejects.push(Reject::warning(
            path,
            "file",
            format!(
                "skipped: its name announces no known format (--format auto reads {}); give --format to read it",
                described::recognised_names()
            ),
        ));
    }
    let fits: Vec<&InputFile> = found
        .files
        .iter()
        .filter(|f| f.format == InputFormat::Fits)
        .collect();
    let curves: Vec<&InputFile> = found
        .files
        .iter()
        .filter(|f| f.format != InputFormat::Fits)
        .collect();
    let (image_rows, tables) = run.read_images(&fits);
    let new_curves = run.read_lightcurves(&curves)?;
    if let Some(p) = &opts.progress {
        p.finish();
    }
    let images = run.write_images(&image_rows)?;
    run.write_fits_tables(&tables)?;
    run.carry_measurements(&new_curves)?;
    let survey_held = run.holds_the_survey(&images, &new_curves.stars)?;
    run.write_stars(&images, &image_rows, new_curves.stars)?;
    let all_inputs = run.write_small_tables(&images, survey_held)?;
    let image_files = (fits.len() - tables.len()) as u64;
    run.publish(writer, image_files, &all_inputs, start)
}

/// The star rows of new light curves, by field then star id, with their colours.
type NewStars = BTreeMap<String, BTreeMap<String, (StarRecord, Vec<u8>)>>;

/// The light curves of this ingest: the (star, colour) pairs they replace and their star
/// rows by field.
struct NewCurves {
    replaced: HashSet<(String, u8)>,
    stars: NewStars,
}

/// One ingest in progress: options, target version, worker pool, report, inputs table.
struct IngestRun<'a> {
    opts: &'a IngestOptions,
    version: u64,
    staging: PathBuf,
    prev_dir: Option<PathBuf>,
    pool: rayon::ThreadPool,
    report: IngestReport,
    inputs: BTreeMap<String, InputRow>,
    earlier: same_id::EarlierStars,
}

impl<'a> IngestRun<'a> {
    fn new(opts: &'a IngestOptions, writer: &VersionWriter, files: u64) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.jobs.unwrap_or(0))
            .build()
            .context("cannot start worker threads")?;
        if let Some(p) = &opts.progress {
            p.start(files);
        }
        Ok(IngestRun {
            opts,
            version: writer.version(),
            staging: writer.staging().to_path_buf(),
            prev_dir: writer.previous_dir(),
            pool,
            report: IngestReport {
                catalog: opts.catalog.clone(),
                version: writer.version(),
                ..IngestReport::default()
            },
            inputs: BTreeMap::new(),
            earlier: same_id::EarlierStars::default(),
        })
    }

    fn tick(&self) {
        if let Some(p) = &self.opts.progress {
            p.advance(1);
        }
    }

    fn record_input(&mut self, f: &InputFile, c: Counts) {
        self.record_input_as(f, f.format.name().to_string(), c);
    }

    fn record_input_as(&mut self, f: &InputFile, format: String, c: Counts) {
        let row = InputRow {
            path: path_text::path_text(&f.path),
            format,
            size: f.size as i64,
            run: self.version as i64,
            read: c.read as i64,
            written: c.written as i64,
            missing: c.missing as i64,
            rejected: c.rejected as i64,
        };
        self.inputs.insert(row.path.clone(), row);
    }

    /// Step 1: FITS headers, in parallel.
    /// A FITS file that is no image but holds a table is returned for step 3a, its
    /// HDUs looked at only once the image reader found no image.
    fn read_images<'f>(&mut self, fits: &[&'f InputFile]) -> (Vec<ImageRow>, Vec<&'f InputFile>) {
        let conventions = &self.opts.conventions;
        let parsed: Vec<_> = self.pool.install(|| {
            fits.par_iter()
                .map(|f| {
                    let r = read_image(&f.path, f.size, conventions);
                    let table = r.is_err() && fits_tables::holds_a_table(&f.path);
                    self.tick();
                    (r, table)
                })
                .collect()
        });
        let mut image_rows: Vec<ImageRow> = Vec::new();
        let mut tables = Vec::new();
        for (f, (r, table)) in fits.iter().zip(parsed) {
            if table {
                tables.push(*f);
                continue;
            }
            self.report.files_read += 1;
            self.report.bytes_read += f.size;
            let one = |written: u64| Counts {
                read: 1,
                written,
                missing: 0,
                rejected: 1 - written,
            };
            match r {
                Ok((row, warnings)) => {
                    self.report.rejects.extend(warnings);
                    image_rows.push(row);
                    self.record_input(f, one(1));
                }
                Err(reject) => {
                    self.report.files_rejected += 1;
                    self.report.rejects.push(reject);
                    self.record_input(f, one(0));
                }
            }
        }
        self.report.images_written = image_rows.len() as u64;
        (image_rows, tables)
    }

    /// Step 2: light curves, chunk by chunk; each chunk written as one file per field.
    fn read_lightcurves(&mut self, curves: &[&InputFile]) -> Result<NewCurves> {
        let mut new_keys: HashMap<(String, u8), String> = HashMap::new();
        let mut stars = NewStars::new();
        for (chunk_no, chunk) in chunk_by_bytes(curves, CHUNK_BYTES).into_iter().enumerate() {
            let conventions = &self.opts.conventions;
            let parsed: Vec<Result<LightCurve, RejectedFile>> = self.pool.install(|| {
                chunk
                    .par_iter()
                    .map(|f| {
                        let r = read_lightcurve(f, conventions);
                        self.tick();
                        r
                    })
                    .collect()
            });
            let mut by_field: BTreeMap<String, Vec<LightCurve>> = BTreeMap::new();
            for (f, r) in chunk.iter().zip(parsed) {
                if let Some(lc) = self.account_lightcurve(f, r, &mut new_keys) {
                    by_field.entry(lc.field.clone()).or_default().push(lc);
                }
            }
            self.write_measurement_chunk(chunk_no, &by_field)?;
            add_star_records(&mut stars, &by_field);
        }
        Ok(NewCurves {
            replaced: new_keys.into_keys().collect(),
            stars,
        })
    }

    /// Counts one parsed light-curve file; returns it when its values are to be written
    /// (the same star and colour twice in one ingest: the first file wins).
    fn account_lightcurve(
        &mut self,
        f: &InputFile,
        parsed: Result<LightCurve, RejectedFile>,
        new_keys: &mut HashMap<(String, u8), String>,
    ) -> Option<LightCurve> {
        self.report.files_read += 1;
        self.report.bytes_read += f.size;
        let mut lc = match parsed {
            Ok(lc) => lc,
            Err(RejectedFile { reject, counts }) => {
                self.report.files_rejected += 1;
                self.report.rejects.push(reject);
                self.report.values.add(counts);
                self.record_input(f, counts);
                return None;
            }
        };
        let dup = lc
            .colours
            .iter()
            .find_map(|c| new_keys.get(&(lc.star_id.clone(), *c)).cloned())
            .map(|first| {
                format!(
                    "star {} already given by {first} in this ingest; not written",
                    lc.star_id
                )
            });
        let conflict = dup.or_else(|| self.earlier.conflict(self.prev_dir.as_ref(), &lc));
        if let Some(reason) = conflict {
            lc.counts.rejected += lc.counts.written;
            lc.counts.written = 0;
            self.report
                .rejects
                .push(Reject::rejected(&f.path, "file", reason));
            self.report.values.add(lc.counts);
            self.record_input(f, lc.counts);
            return None;
        }
        for c in &lc.colours {
            new_keys.insert((lc.star_id.clone(), *c), lc.source.clone());
        }
        self.report.values.add(lc.counts);
        self.report.rejects.append(&mut lc.rejects);
        self.record_input(f, lc.counts);
        Some(lc)
    }

    /// One Parquet file per field of a chunk, written in parallel.
    fn write_measurement_chunk(
        &self,
        chunk_no: usize,
        by_field: &BTreeMap<String, Vec<LightCurve>>,
    ) -> Result<()> {
        let version = self.version;
        self.pool.install(|| {
            by_field
                .par_iter()
                .map(|(field, lcs)| {
                    let refs: Vec<&LightCurve> = lcs.iter().collect();
                    let batch = measurements::measurements_batch(&refs)?;
                    let path = self
                        .staging
                        .join("measurements")
                        .join(format!("field={field}"))
                        .join(format!("part-{version:06}-{chunk_no:04}.parquet"));
                    write_parquet(&path, schema::measurements_file_schema(), &[batch])
                })
                .collect::<Result<Vec<u64>>>()
        })?;
        Ok(())
    }

    /// Step 3: the images table, previous rows of other paths kept.
    fn write_images(&self, image_rows: &[ImageRow]) -> Result<Vec<RecordBatch>> {
        let new_paths: HashSet<&str> = image_rows.iter().map(|r| r.path.as_str()).collect();
        let mut images: Vec<RecordBatch> = Vec::new();
        if let Some(prev) = &self.prev_dir {
            let old = prev.join("images.parquet");
            if old.exists() {
                for b in read_parquet(&old)? {
                    images.push(without_paths(&b, &new_paths)?);
                }
            }
        }
        images.push(images_batch(image_rows)?);
        write_parquet(
            &self.staging.join("images.parquet"),
            schema::images_schema(),
            &images,
        )?;
        Ok(images)
    }

    /// One FITS table file to the table `name`, unless another file of this ingest or of
    /// an earlier one already gave a table of that name.
    fn write_fits_table(
        &self,
        f: &InputFile,
        name: String,
        written: &mut HashMap<String, String>,
    ) -> Result<u64, (Reject, u64)> {
        let earlier = fits_tables::replaces_another(self.prev_dir.as_deref(), &name, &f.path);
        let first = written
            .get(&name)
            .map(|first| format!("table {name} already given by {first} in this ingest"));
        if let Some(reason) = first.or(earlier) {
            // Not written: its rows are counted as rejected.
            let rows =
                crate::formats::fits::table_read::open_table(&f.path, None).map_or(0, |t| t.rows);
            return Err((Reject::rejected(&f.path, "file", reason), rows));
        }
        let dest = self.staging.join(format!("{name}.parquet"));
        let rows = fits_tables::write_table(&f.path, &dest, &self.staging)?;
        written.insert(name, path_text::path_text(&f.path));
        Ok(rows)
    }

    /// One table file named by `--table NAME=PATH` to the table `name`, unless another
    /// file of this ingest or of an earlier one already gave a table of that name.
    fn write_named_table(
        &self,
        path: &std::path::Path,
        name: &str,
        written: &mut HashMap<String, String>,
    ) -> Result<u64, (Reject, u64)> {
        let earlier = fits_tables::replaces_another(self.prev_dir.as_deref(), name, path);
        let first = written
            .get(name)
            .map(|first| format!("table {name} already given by {first} in this ingest"));
        if let Some(reason) = first.or(earlier) {
            return Err((Reject::rejected(path, "file", reason), 0));
        }
        let dest = self.staging.join(format!("{name}.parquet"));
        let metadata = [(
            fits_tables::SOURCE_KEY.to_string(),
            path_text::path_text(path),
        )]
        .into_iter()
        .collect();
        let rows = table_files::write_through_datafusion(path, &dest, &self.staging, metadata)
            .map_err(|e| {
                (
                    Reject::rejected(path, "file", format!("{e:#}; no row written")),
                    0,
                )
            })?;
        written.insert(name.to_string(), path_text::path_text(path));
        Ok(rows)
    }

    /// Step 3a: FITS table files, each to the table of its name, and the `--table` files
    /// to theirs (replacing an earlier one of that name); the previous version's other
    /// tables of this kind carried over.
    fn write_fits_tables(&mut self, files: &[&InputFile]) -> Result<()> {
        let mut written: HashMap<String, String> = HashMap::new();
        for (name, path) in &self.opts.tables {
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            self.report.files_read += 1;
            self.report.bytes_read += size;
            let outcome = self.write_named_table(path, name, &mut written);
            let counts = self.count_table_file(outcome);
            let f = InputFile {
                path: path.clone(),
                format: InputFormat::Fits,
                size,
            };
            self.record_input_as(&f, "table".into(), counts);
        }
        for f in files {
            self.report.files_read += 1;
            self.report.bytes_read += f.size;
            let outcome = match fits_tables::table_name(&f.path) {
                Err(reason) => Err((Reject::rejected(&f.path, "file", reason), 0)),
                Ok(name) => self.write_fits_table(f, name, &mut written),
            };
            let counts = self.count_table_file(outcome);
            self.record_input_as(f, "fits-table".into(), counts);
        }
        let Some(prev) = &self.prev_dir else {
            return Ok(());
        };
        for name in schema::extra_tables(prev)? {
            let dest = self.staging.join(format!("{name}.parquet"));
            if !dest.exists() {
                link_or_copy(&prev.join(format!("{name}.parquet")), &dest)?;
            }
        }
        Ok(())
    }

    /// The accounting of one table file: its rows written, or its rejection kept.
    fn count_table_file(&mut self, outcome: Result<u64, (Reject, u64)>) -> Counts {
        let counts = match outcome {
            Ok(rows) => Counts {
                read: rows,
                written: rows,
                ..Counts::default()
            },
            Err((reject, rows)) => {
                self.report.files_rejected += 1;
                self.report.rejects.push(reject);
                Counts {
                    read: rows,
                    rejected: rows,
                    ..Counts::default()
                }
            }
        };
        self.report.table_file_rows.add(counts);
        counts
    }

    /// Step 3b: the previous measurements, without the replaced (star, colour) rows.
    fn carry_measurements(&self, new: &NewCurves) -> Result<()> {
        match &self.prev_dir {
            Some(prev) => carry_measurements(prev, &self.staging, &new.replaced, &new.stars),
            None => Ok(()),
        }
    }

    /// Step 4: stars merged with the previous ones, placed by their reference images.
    fn write_stars(
        &mut self,
        images: &[RecordBatch],
        image_rows: &[ImageRow],
        mut new_stars: NewStars,
    ) -> Result<()> {
        let references = reference_wcs(images)?;
        let new_reference_fields: BTreeSet<String> = image_rows
            .iter()
            .filter(|r| r.name.code.as_deref() == Some("d"))
            .filter_map(|r| r.name.field.clone())
            .collect();
        let mut fields_to_write: BTreeSet<String> = new_stars.keys().cloned().collect();
        let old_star_fields = self
            .prev_dir
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
                link_dir(
                    dir,
                    &self.staging.join("stars").join(format!("field={field}")),
                )?;
            }
        }
        for field in &fields_to_write {
            let mut records = self.earlier.take(self.prev_dir.as_ref(), field)?;
            for (id, (rec, colours)) in new_stars.remove(field).unwrap_or_default() {
                match records.get_mut(&id) {
                    Some(old) => old.merge(rec, &colours),
                    None => {
                        records.insert(id, rec);
                    }
                }
            }
            self.locate_stars(&mut records, &references);
            let path = self
                .staging
                .join("stars")
                .join(format!("field={field}"))
                .join(format!("part-{:06}.parquet", self.version));
            write_stars_parquet(&path, stars_batch(&records)?)?;
        }
        if self.report.stars_outside_reference > 0 {
            self.report.rejects.push(Reject::warning(
                &self.opts.catalog,
                "stars",
                format!(
                    "{} stars have their pixel position outside the reference image of their quarter (a star of another survey or field than the images?): ra/dec null, not placed by a WCS that does not cover them",
                    self.report.stars_outside_reference
                ),
            ));
        }
        let r = &self.report;
        let no_reference =
            r.stars_without_position - r.stars_outside_reference - r.stars_without_geometry;
        if no_reference > 0 {
            self.report.rejects.push(Reject::warning(
                &self.opts.catalog,
                "stars",
                format!(
                    "{no_reference} stars have no reference image for their quarter in the catalogue: ra/dec null (ingest the reference images to fill them)"
                ),
            ));
        }
        Ok(())
    }

    fn locate_stars(&mut self, records: &mut BTreeMap<String, StarRecord>, refs: &References) {
        for r in records.values_mut() {
            match r.locate(refs) {
                stars::Placement::Reference => self.report.stars_located += 1,
                stars::Placement::Header => {}
                stars::Placement::OutsideImage => {
                    self.report.stars_outside_reference += 1;
                    self.report.stars_without_position += 1;
                }
                stars::Placement::None => self.report.stars_without_position += 1,
                stars::Placement::NoGeometry => {
                    self.report.stars_without_position += 1;
                    self.report.stars_without_geometry += 1;
                }
            }
        }
    }

    /// Whether the new version holds anything of the survey whose conventions it is
    /// ingested with: its images (named by those conventions), light curves of that
    /// survey, or a previous version that did. A catalogue of other surveys' light curves
    /// (OGLE, MACHO) gets an empty `quarters` table, not the mosaic of a camera it never
    /// saw.
    fn holds_the_survey(&self, images: &[RecordBatch], new_stars: &NewStars) -> Result<bool> {
        let survey = &self.opts.conventions.survey;
        if images.iter().any(|b| b.num_rows() > 0)
            || new_stars
                .values()
                .flat_map(|stars| stars.values())
                .any(|(star, _)| &star.survey == survey)
        {
            return Ok(true);
        }
        Ok(match &self.prev_dir {
            Some(p) if p.join("quarters.parquet").exists() => {
                read_parquet(&p.join("quarters.parquet"))?
                    .iter()
                    .any(|b| b.num_rows() > 0)
            }
            _ => false,
        })
    }

    /// Step 5: fields, quarters (when the survey is held) and inputs; returns every input
    /// file recorded.
    fn write_small_tables(
        &mut self,
        images: &[RecordBatch],
        survey_held: bool,
    ) -> Result<BTreeMap<String, InputRow>> {
        let quarters = quarters_batch(&self.opts.conventions)?;
        let quarters = if survey_held {
            quarters
        } else {
            quarters.slice(0, 0)
        };
        write_parquet(
            &self.staging.join("fields.parquet"),
            schema::fields_schema(),
            &[fields_batch(images)?],
        )?;
        write_parquet(
            &self.staging.join("quarters.parquet"),
            schema::quarters_schema(),
            &[quarters],
        )?;
        let mut all_inputs = match &self.prev_dir {
            Some(p) if p.join("inputs.parquet").exists() => {
                inputs_from_batches(&read_parquet(&p.join("inputs.parquet"))?)?
            }
            _ => BTreeMap::new(),
        };
        all_inputs.extend(std::mem::take(&mut self.inputs));
        write_parquet(
            &self.staging.join("inputs.parquet"),
            schema::inputs_schema(),
            &[inputs_batch(&all_inputs)?],
        )?;
        Ok(all_inputs)
    }

    /// Step 6: rejects, then the version published.
    fn publish(
        mut self,
        writer: VersionWriter,
        image_files: u64,
        all_inputs: &BTreeMap<String, InputRow>,
        start: Instant,
    ) -> Result<IngestReport> {
        let rejects_rel = format!("{}/ingest-{:06}.tsv", rejects::REJECTS_DIR, self.version);
        self.report.rejects_file = self.opts.catalog.join(&rejects_rel);
        write_rejects(&self.report.rejects_file, &self.report.rejects)?;
        let r = &self.report;
        let run = RunRecord {
            version: self.version,
            finished_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            inputs: self
                .opts
                .inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            files_read: r.files_read,
            files_rejected: r.files_rejected,
            bytes_read: r.bytes_read,
            rows_read: r.values.read + r.table_file_rows.read + image_files,
            rows_written: r.values.written + r.table_file_rows.written + r.images_written,
            rows_missing: r.values.missing,
            rows_rejected: r.values.rejected
                + r.table_file_rows.rejected
                + (image_files - r.images_written),
            rejects_file: rejects_rel,
            seconds: start.elapsed().as_secs_f64(),
        };
        let manifest = writer.publish(VersionRecord {
            conventions: &self.opts.conventions,
            run,
            input_files: all_inputs.len() as u64,
            input_bytes: all_inputs.values().map(|r| r.size as u64).sum(),
        })?;
        self.report.table_rows = manifest
            .tables
            .iter()
            .map(|(k, v)| (k.clone(), v.rows))
            .collect();
        self.report.seconds = start.elapsed().as_secs_f64();
        Ok(self.report)
    }
}

/// Adds the star rows of a chunk's light curves to `stars`.
fn add_star_records(stars: &mut NewStars, by_field: &BTreeMap<String, Vec<LightCurve>>) {
    for (field, lcs) in by_field {
        let field_stars = stars.entry(field.clone()).or_default();
        for lc in lcs {
            let rec = StarRecord::from_lightcurve(lc);
            match field_stars.get_mut(&lc.star_id) {
                Some((existing, colours)) => {
                    existing.merge(rec, &lc.colours);
                    colours.extend(&lc.colours);
                }
                None => {
                    field_stars.insert(lc.star_id.clone(), (rec, lc.colours.clone()));
                }
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
        InputFormat::Lightcurve(d) => described::read_described(d, &f.path, &text, conventions),
        InputFormat::Fits => Err(RejectedFile::new(
            Reject::rejected(&f.path, "file", "a FITS file is not a light curve"),
            0,
        )),
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
