//! `skyql demo`: generate, ingest, run the named queries, export, report.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type};

use crate::catalog::Catalog;
use crate::conventions::Conventions;
use crate::demo::{DemoConfig, Truth, generate, read_truth};
use crate::engine::{Engine, EngineOptions, ExtraTable};
use crate::export::{ExportOptions, OutputFormat, write_result};
use crate::ingest::{IngestOptions, ingest};
use crate::named_queries::NAMED_QUERIES;

/// Arguments of `skyql demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Demo directory: raw/, catalog/, exports/ inside.
    #[arg(long, default_value = "skyql-demo")]
    out: std::path::PathBuf,
    #[command(flatten)]
    size: super::SizeArgs,
}

pub(crate) fn run(args: DemoArgs) -> Result<()> {
    run_demo(&args.out, &args.size.config())
}

/// Runs the whole demo in `out` and prints the report.
fn run_demo(out: &Path, config: &DemoConfig) -> Result<()> {
    let started = Instant::now();
    let raw = out.join("raw");
    let catalog_dir = out.join("catalog");
    let exports = out.join("exports");
    let conventions = Conventions::eros2()?;

    let t = Instant::now();
    let truth = demo_survey(out, &raw, config, &conventions)?;
    let t_generate = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let report = ingest(&IngestOptions {
        inputs: vec![raw.join("images"), raw.join("lightcurves")],
        catalog: catalog_dir.clone(),
        format: None,
        jobs: None,
        conventions,
        progress: Some(super::ingest::progress_bar()),
        tables: Vec::new(),
    })?;
    let t_ingest = t.elapsed().as_secs_f64();
    super::ingest::print_report(&report);

    let t = Instant::now();
    std::fs::create_dir_all(&exports)?;
    let rt = super::runtime()?;
    let catalog = Catalog::open(&catalog_dir)?;
    let engine = Engine::new(Some(catalog.clone()), EngineOptions::default())?;
    let ctx = rt.block_on(engine.session(&[]))?;
    let (quarter_rows, candidates) = rt.block_on(run_named_queries(&ctx, &exports))?;
    let t_queries = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let images = rt.block_on(run_image_queries(&catalog, &raw, &exports, &truth))?;
    let t_images = t.elapsed().as_secs_f64();

    println!();
    println!("== skyql demo: {} ==", out.display());
    println!(
        "survey: fields {} | {} stars, {} measurements, {} reference + {} current images",
        config.fields.join(", "),
        truth.n_stars,
        truth.n_measurements,
        truth.n_reference_images,
        truth.n_current_images
    );
    let width = report.table_rows.keys().map(String::len).max().unwrap_or(0);
    for (t, n) in &report.table_rows {
        println!("  table {t:<width$} {n:>10} rows");
    }
    print_quarter_summary(&quarter_rows, &truth)?;
    print_candidates(&candidates, &truth, &exports)?;
    images.print();
    println!("exports: {}", exports.display());
    println!(
        "timings: generate {t_generate:.1} s, ingest {t_ingest:.1} s, queries + exports {t_queries:.2} s, images {t_images:.2} s, total {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "next: skyql query --catalog {} --named quarters_most_measurements  (skyql queries lists the others)",
        catalog_dir.display()
    );
    Ok(())
}

/// The demo survey's raw files: generated, or found from an earlier run of the same
/// size and seed.
fn demo_survey(
    out: &Path,
    raw: &Path,
    config: &DemoConfig,
    conventions: &Conventions,
) -> Result<Truth> {
    if raw.join("truth/truth.json").exists() {
        let existing: DemoConfig = serde_json::from_str(
            &std::fs::read_to_string(raw.join("truth/config.json"))
                .context("cannot read the demo's config.json")?,
        )?;
        if &existing != config {
            bail!(
                "{} holds a demo survey of another size or seed; remove {} or use another --out",
                raw.display(),
                out.display()
            );
        }
        println!("demo survey found in {}", raw.display());
        read_truth(raw)
    } else {
        if raw.exists() {
            bail!(
                "{} exists but holds no complete demo survey; remove it first",
                raw.display()
            );
        }
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        generate(config, raw, conventions)
    }
}

/// Runs every named query and exports it (CSV; the release's two main products also as
/// VOTable and FITS tables, with units and UCDs, for TOPCAT and astropy); returns the
/// rows of the quarters query and of the microlensing candidates for the report.
async fn run_named_queries(
    ctx: &datafusion::prelude::SessionContext,
    exports: &Path,
) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
    let mut quarter_rows = Vec::new();
    let mut candidates = Vec::new();
    for (name, sql) in NAMED_QUERIES {
        // Optional parameters (the light curve's star) take the query's default.
        let df = ctx
            .sql(sql)
            .await
            .with_context(|| format!("named query {name}"))?;
        let df = crate::engine::parameters::bind(df, sql, &[])
            .with_context(|| format!("named query {name}"))?;
        if name == "quarters_most_measurements" {
            quarter_rows = df.clone().collect().await?;
        }
        if name == "microlensing_candidates" {
            candidates = df.clone().collect().await?;
        }
        let formats: &[OutputFormat] =
            if matches!(name, "quarters_most_measurements" | "lightcurve") {
                &[OutputFormat::Csv, OutputFormat::Votable, OutputFormat::Fits]
            } else {
                &[OutputFormat::Csv]
            };
        let options = ExportOptions {
            query: Some(sql.to_string()),
            table_name: Some(name.to_string()),
            ..ExportOptions::default()
        };
        for format in formats {
            let file = exports.join(format!("{name}.{}", format.extension()));
            write_result(df.clone(), *format, Some(&file), &options).await?;
        }
    }
    Ok((quarter_rows, candidates))
}

/// The candidate search against the injected events: how many were found, and any
/// candidate that is not an injected event.
fn print_candidates(candidates: &[RecordBatch], truth: &Truth, exports: &Path) -> Result<()> {
    let mut found: Vec<String> = Vec::new();
    for batch in candidates {
        let ids = datafusion::arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        let ids = ids.as_string::<i32>();
        found.extend((0..ids.len()).map(|i| ids.value(i).to_string()));
    }
    let injected: Vec<&str> = truth.events.iter().map(|e| e.star_id.as_str()).collect();
    let recovered = found
        .iter()
        .filter(|s| injected.contains(&s.as_str()))
        .count();
    let others: Vec<&String> = found
        .iter()
        .filter(|s| !injected.contains(&s.as_str()))
        .collect();
    println!(
        "microlensing: {} candidates (sql/microlensing_candidates.sql, {}), {recovered} of the {} injected events (raw/truth/events.csv){}",
        found.len(),
        exports.join("microlensing_candidates.csv").display(),
        injected.len(),
        if others.is_empty() {
            String::new()
        } else {
            format!(
                "; not injected: {}",
                others
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    Ok(())
}

/// What the image stage of the demo produced.
struct ImageReport {
    root: std::path::PathBuf,
    current_images: usize,
    public_images: usize,
    central_choice: usize,
    events: usize,
    cutouts: usize,
    quicklooks: usize,
    plots: usize,
}

impl ImageReport {
    fn print(&self) {
        println!(
            "public images: {} of {} current images received a WCS from the quarter with the most \
             measurements; the quarter closest to the centre would have given {} ({} more)",
            self.public_images,
            self.current_images,
            self.central_choice,
            self.public_images as i64 - self.central_choice as i64
        );
        println!(
            "cutouts: {} around {} microlensing events; {} quick-looks; {} light-curve plots; in {}",
            self.cutouts,
            self.events,
            self.quicklooks,
            self.plots,
            self.root.display()
        );
    }
}

fn count_non_null(batches: &[RecordBatch], column: &str) -> usize {
    batches
        .iter()
        .map(|b| {
            b.column_by_name(column)
                .map_or(0, |c| c.len() - c.null_count())
        })
        .sum()
}

/// Current images that the quarter closest to the mosaic centre (EROS-2's choice) would
/// give a WCS, and all current images.
async fn central_choice(ctx: &datafusion::prelude::SessionContext) -> Result<(usize, usize)> {
    let central_sql = "SELECT COUNT(DISTINCT c.file_name) AS n FROM images c \
        JOIN quarters q ON q.ccd = c.ccd AND q.is_central \
        JOIN images r ON r.code = 'd' AND r.wcs IS NOT NULL AND r.field = c.field \
         AND r.colour = c.colour AND r.ccd = c.ccd AND r.quarter = q.quarter \
        JOIN measurements m ON m.field = c.field AND m.ccd = c.ccd AND m.colour = c.colour \
         AND m.quarter = q.quarter \
         AND CAST(round(m.mjd * 10000) AS BIGINT) = CAST(round(c.mjd_obs * 10000) AS BIGINT) \
        WHERE c.code = 'e'";
    let scalar = |batches: Vec<RecordBatch>| -> usize {
        batches.first().filter(|b| b.num_rows() > 0).map_or(0, |b| {
            b.column(0).as_primitive::<Int64Type>().value(0) as usize
        })
    };
    let central = scalar(ctx.sql(central_sql).await?.collect().await?);
    let current = scalar(
        ctx.sql("SELECT COUNT(*) FROM images WHERE code = 'e'")
            .await?
            .collect()
            .await?,
    );
    Ok((central, current))
}

/// A light-curve plot of every microlensing event; returns how many were drawn.
async fn plot_events(
    ctx: &datafusion::prelude::SessionContext,
    root: &Path,
    truth: &Truth,
) -> Result<usize> {
    let mut plots = 0;
    std::fs::create_dir_all(root.join("plots"))?;
    for e in &truth.events {
        let path = root.join("plots").join(format!("{}.svg", e.star_id));
        if crate::plot::plot_lightcurve(ctx, &e.star_id, &path, &Default::default())
            .await
            .is_ok()
        {
            plots += 1;
        }
    }
    Ok(plots)
}

/// Runs named query `name` (`sql/NAME.sql`), writes its result as `exports/NAME.csv`
/// and returns it.
async fn collect_and_export(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    exports: &Path,
    name: &str,
) -> Result<Vec<RecordBatch>> {
    let batches = ctx
        .sql(sql)
        .await
        .with_context(|| format!("sql/{name}.sql"))?
        .collect()
        .await?;
    let options = ExportOptions {
        table_name: Some(name.to_string()),
        ..ExportOptions::default()
    };
    let file = exports.join(format!("{name}.csv"));
    let df = ctx.read_batches(batches.clone())?;
    write_result(df, OutputFormat::Csv, Some(&file), &options).await?;
    Ok(batches)
}

/// Runs `sql/public_images.sql` and `sql/cutouts.sql`, draws quick-looks of one public
/// image per field and the light curves of the events, under the catalogue's
/// `products/` (replacing the files of a previous run).
async fn run_image_queries(
    catalog: &Catalog,
    raw: &Path,
    exports: &Path,
    truth: &Truth,
) -> Result<ImageReport> {
    use crate::named_queries::{CUTOUTS_SQL, PUBLIC_IMAGES_SQL};
    let options = EngineOptions {
        overwrite: true,
        ..EngineOptions::default()
    };
    let engine = Engine::new(Some(catalog.clone()), options)?;
    let root = engine.output_root();
    let events = ExtraTable {
        name: "events".into(),
        path: raw.join("truth/events.csv"),
    };
    let ctx = engine.session(&[events]).await?;
    let public = collect_and_export(&ctx, PUBLIC_IMAGES_SQL, exports, "public_images").await?;
    let (central, current) = central_choice(&ctx).await?;
    // The result of public_images.sql, as the `public` table of cutouts.sql.
    let public_schema = public
        .first()
        .map(|b| b.schema())
        .context("sql/public_images.sql returned no batch")?;
    let all = datafusion::arrow::compute::concat_batches(&public_schema, &public)?;
    ctx.register_batch("public", all)?;
    let cutouts = collect_and_export(&ctx, CUTOUTS_SQL, exports, "cutouts").await?;
    // One quick-look per field, of its first public image.
    let quicklooks = if public.is_empty() {
        Vec::new()
    } else {
        ctx.sql(
            "SELECT quicklook(public_path, 'zscale', 256) AS png FROM ( \
               SELECT field, MIN(public_path) AS public_path FROM public \
               WHERE public_path IS NOT NULL GROUP BY field)",
        )
        .await?
        .collect()
        .await?
    };
    let plots = plot_events(&ctx, &root, truth).await?;
    Ok(ImageReport {
        root,
        current_images: current,
        public_images: count_non_null(&public, "public_path"),
        central_choice: central,
        events: truth.events.len(),
        cutouts: count_non_null(&cutouts, "cutout_path"),
        quicklooks: count_non_null(&quicklooks, "png"),
        plots,
    })
}

/// Prints the best-quarter summary and checks it against the generator's truth.
fn print_quarter_summary(rows: &[RecordBatch], truth: &Truth) -> Result<()> {
    let mut expected: BTreeMap<(String, String, i32, String), u64> = BTreeMap::new();
    for c in &truth.counts {
        expected.insert(
            (c.field.clone(), c.colour.clone(), c.ccd, c.quarter.clone()),
            c.n_measurements,
        );
    }
    let mut tally = QuarterTally::default();
    for b in rows {
        tally.add(b, &expected)?;
    }
    let QuarterTally {
        ccds,
        better,
        gain_total,
        central_total,
        mismatches,
    } = tally;
    println!(
        "best quarter per CCD: in {better} of {ccds} field/colour/CCDs the richest quarter is not the central one;"
    );
    println!(
        "  choosing it gives {gain_total} more measurements than the central quarters ({central_total}), +{:.1}%",
        if central_total > 0 {
            100.0 * gain_total as f64 / central_total as f64
        } else {
            0.0
        }
    );
    if mismatches.is_empty() {
        println!("  per-quarter counts vs the generator's truth: all equal");
    } else {
        println!(
            "  per-quarter counts vs the generator's truth: {} differ (light curves ingested into this catalogue besides the demo survey's change them):",
            mismatches.len()
        );
        for m in mismatches.iter().take(10) {
            println!("    {m}");
        }
        if mismatches.len() > 10 {
            println!("    ... and {} more", mismatches.len() - 10);
        }
    }
    Ok(())
}

/// What the quarters query says, summed over its rows, and how many per-quarter counts
/// differ from the generator's truth.
#[derive(Default)]
struct QuarterTally {
    ccds: usize,
    better: usize,
    gain_total: i64,
    central_total: i64,
    /// Each per-quarter count that differs, in words.
    mismatches: Vec<String>,
}

impl QuarterTally {
    fn add(
        &mut self,
        b: &RecordBatch,
        expected: &BTreeMap<(String, String, i32, String), u64>,
    ) -> Result<()> {
        let s = |n: &str| {
            b.column_by_name(n)
                .and_then(|c| datafusion::arrow::compute::cast(c, &DataType::Utf8).ok())
                .map(|c| c.as_string::<i32>().clone())
                .with_context(|| format!("quarters_most_measurements: no column {n}"))
        };
        let i = |n: &str| {
            b.column_by_name(n)
                .map(|c| c.as_primitive::<Int64Type>().clone())
                .with_context(|| format!("quarters_most_measurements: no column {n}"))
        };
        let (field, colour, best, central) = (
            s("field")?,
            s("colour")?,
            s("best_quarter")?,
            s("central_quarter")?,
        );
        let ccd = b
            .column_by_name("ccd")
            .map(|c| {
                c.as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                    .clone()
            })
            .context("no ccd column")?;
        let (gain, central_n) = (i("gain")?, i("central_n")?);
        let per_quarter = ["k", "l", "m", "n"]
            .into_iter()
            .map(|q| Ok((q, i(&format!("n_{q}"))?)))
            .collect::<Result<Vec<_>>>()?;
        for r in 0..b.num_rows() {
            self.ccds += 1;
            if best.value(r) != central.value(r) {
                self.better += 1;
            }
            self.gain_total += gain.value(r);
            self.central_total += central_n.value(r);
            for (q, col) in &per_quarter {
                let got = if col.is_null(r) {
                    0
                } else {
                    col.value(r) as u64
                };
                let key = (
                    field.value(r).to_string(),
                    colour.value(r).to_string(),
                    ccd.value(r),
                    q.to_string(),
                );
                let want = expected.get(&key).copied().unwrap_or(0);
                if want != got {
                    self.mismatches.push(format!(
                        "{} {} CCD {} quarter {}: {got} in the catalogue, {want} generated",
                        key.0, key.1, key.2, key.3
                    ));
                }
            }
        }
        Ok(())
    }
}
