//! The built-in demo survey: a deterministic EROS-like survey written as real files.
//!
//! `skyql generate --out RAW` writes FITS reference images (code d, one per CCD quarter),
//! current images (code e, one per CCD and exposure) and EROS-format light curves
//! (`.time`), plus `truth/` with the exact counts and star positions the tests compare
//! with. See `docs/DEMO.md` for what is modelled.

pub mod bulk;
mod fits_out;
mod geometry;
mod lightcurve_out;
pub mod rng;
mod sky;
pub mod truth;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use geometry::Mosaic;
pub use sky::field_centre;
pub use truth::{QuarterCount, Truth};

use crate::conventions::{CcdElectronics, Conventions, eros2_electronics};
use fits_out::ImageSpec;
use rng::Rng;
use sky::{EventWindow, FieldPlan, Star, draw_variability, mag_error, plan_field};

/// Einstein times of the demo's events (days). The demo observes a field about once in
/// 40 days (60 exposures over seven years), so its events are long enough to have points
/// on the bump; `generate --catalog` draws EROS-like times (25 to 80 days).
pub const DEMO_EVENT_TE: (f64, f64) = (120.0, 250.0);

/// EROS-2 LMC image counts per field (`datasets/eros2/lmc_image_counts.csv`).
pub const LMC_IMAGE_COUNTS: &str = include_str!("../../datasets/eros2/lmc_image_counts.csv");

/// Size and content of the demo survey.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DemoConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Fields, from the LMC image-count table.
    pub fields: Vec<String>,
    /// CCDs per camera (8 for EROS-2; fewer for quick tests).
    pub ccds: u32,
    /// CCD side in pixels (2048 for EROS-2; reduced for the demo).
    pub ccd_size: u32,
    /// Exposures per field.
    pub epochs: u32,
    /// Mean number of stars per CCD quarter.
    pub stars_per_quarter: u32,
    /// Microlensing events per field.
    #[serde(default = "default_events_per_field")]
    pub events_per_field: u32,
    /// Fraction of the other stars that are periodic variables.
    #[serde(default = "default_periodic_fraction")]
    pub periodic_fraction: f64,
}

fn default_events_per_field() -> u32 {
    2
}

/// The fraction of periodic variables of generated surveys unless told otherwise.
pub fn default_periodic_fraction() -> f64 {
    0.06
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: 2026,
            // lm035 has 62 reference images of 64: two quarters have none.
            fields: vec!["lm001".into(), "lm035".into(), "lm055".into()],
            ccds: 8,
            ccd_size: 128,
            epochs: 60,
            stars_per_quarter: 40,
            events_per_field: default_events_per_field(),
            periodic_fraction: default_periodic_fraction(),
        }
    }
}

/// Reference-image counts per field from the LMC table.
pub fn lmc_reference_counts() -> BTreeMap<String, u32> {
    LMC_IMAGE_COUNTS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("field"))
        .filter_map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            Some((v.first()?.to_string(), v.get(1)?.parse().ok()?))
        })
        .collect()
}

/// Writes the demo survey under `out` (which must not exist or be empty): all files are
/// written under a temporary name and the directory renamed at the end.
pub fn generate(config: &DemoConfig, out: &Path, conventions: &Conventions) -> Result<Truth> {
    if config.ccds == 0 || config.ccds > conventions.ccd_count() as u32 {
        bail!("--ccds must be between 1 and {}", conventions.ccd_count());
    }
    if !(0.0..=1.0).contains(&config.periodic_fraction) {
        bail!("--periodic-fraction must be between 0 and 1");
    }
    if config.ccd_size < 16 || !config.ccd_size.is_multiple_of(2) {
        bail!("--ccd-size must be even and at least 16");
    }
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!("{} exists and is not empty", out.display());
    }
    let counts = lmc_reference_counts();
    let quarters: Vec<String> = conventions.quarters.keys().cloned().collect();
    let mut plans = Vec::new();
    for (i, f) in config.fields.iter().enumerate() {
        let refs = *counts
            .get(f)
            .with_context(|| format!("field {f} is not in the LMC image-count table"))?;
        plans.push(plan_field(config, i as u64, f, refs, &quarters));
    }
    let staging = staging_dir(out);
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let tasks: Vec<(&FieldPlan, i32)> = plans
        .iter()
        .flat_map(|p| (0..config.ccds as i32).map(move |c| (p, c)))
        .collect();
    let mosaic = Mosaic::new(conventions, config.ccd_size);
    let parts: Vec<Result<Truth>> = tasks
        .par_iter()
        .map(|(plan, ccd)| generate_ccd(config, conventions, &mosaic, plan, *ccd, &staging))
        .collect();
    let mut truth = Truth {
        seed: config.seed,
        fields: config.fields.clone(),
        ..Truth::default()
    };
    for p in parts {
        truth.absorb(p?);
    }
    truth.counts.sort_by(|a, b| {
        (&a.field, &a.colour, a.ccd, &a.quarter).cmp(&(&b.field, &b.colour, b.ccd, &b.quarter))
    });
    let truth_dir = staging.join("truth");
    std::fs::create_dir_all(&truth_dir)?;
    std::fs::write(
        truth_dir.join("truth.json"),
        serde_json::to_string_pretty(&truth)?,
    )?;
    std::fs::write(
        truth_dir.join("config.json"),
        serde_json::to_string_pretty(config)?,
    )?;
    // The events and periodic variables as tables, for `--table events=...`
    // (sql/cutouts.sql, the recall of sql/microlensing_candidates.sql).
    truth.events.sort_by(|a, b| a.star_id.cmp(&b.star_id));
    truth.periodic.sort_by(|a, b| a.star_id.cmp(&b.star_id));
    truth::write_truth_tables(&truth_dir, &truth.events, &truth.periodic)?;
    if out.exists() {
        std::fs::remove_dir(out).with_context(|| format!("cannot replace {}", out.display()))?;
    }
    std::fs::rename(&staging, out)
        .with_context(|| format!("cannot rename {} to {}", staging.display(), out.display()))?;
    Ok(truth)
}

fn staging_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "raw".into());
    out.with_file_name(format!(".{name}.partial"))
}

/// Reads the truth written beside a generated survey.
pub fn read_truth(raw: &Path) -> Result<Truth> {
    let path = raw.join("truth/truth.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("invalid {}", path.display()))
}

/// Generates one CCD of one field: its stars, light curves and images.
fn generate_ccd(
    config: &DemoConfig,
    conventions: &Conventions,
    mosaic: &Mosaic,
    plan: &FieldPlan,
    ccd: i32,
    root: &Path,
) -> Result<Truth> {
    let mut rng = Rng::new(config.seed, &[plan.index, ccd as u64, 0xCCD]);
    let quarters: Vec<(String, [u32; 2])> = conventions
        .quarters
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let (stars, observed) = draw_stars(config, mosaic, plan, ccd, &quarters, &mut rng)?;
    let mut truth = Truth::default();
    let counts = write_lightcurves(plan, ccd, &stars, &observed, root, &mut rng, &mut truth)?;
    push_quarter_counts(&mut truth, plan, ccd, &quarters, &counts);
    write_stars_truth(root, plan, ccd, &stars)?;
    write_images(
        config,
        conventions,
        mosaic,
        plan,
        ccd,
        &stars,
        root,
        &mut rng,
        &mut truth,
    )?;
    Ok(truth)
}

/// Measurements and stars per (colour, quarter) of one CCD.
type QuarterTally = BTreeMap<(String, String), (u64, u64)>;

/// The stars of a CCD, quarter by quarter, and for each quarter the epochs it was
/// observed at.
#[allow(clippy::type_complexity)]
fn draw_stars(
    config: &DemoConfig,
    mosaic: &Mosaic,
    plan: &FieldPlan,
    ccd: i32,
    quarters: &[(String, [u32; 2])],
    rng: &mut Rng,
) -> Result<(Vec<Star>, BTreeMap<String, Vec<bool>>)> {
    // Uneven quarters: star density and epoch coverage differ, in random order, so that
    // the quarter nearest the mosaic centre is not always the richest.
    let mut star_factor = [0.45, 0.8, 1.15, 1.6];
    let mut coverage = [0.97, 0.86, 0.72, 0.55];
    rng.shuffle(&mut star_factor);
    rng.shuffle(&mut coverage);
    let wcs_r = mosaic.ccd_wcs(plan.centre, "R", ccd);
    let wcs_b = mosaic.ccd_wcs(plan.centre, "B", ccd);
    let q_size = mosaic.quarter_size() as f64;
    let (first, last) = (
        plan.epochs.first().map_or(50270.0, |e| e.mjd),
        plan.epochs.last().map_or(52700.0, |e| e.mjd),
    );

    let mut stars: Vec<Star> = Vec::new();
    let mut observed: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for (qi, (q, cell)) in quarters.iter().enumerate() {
        let n = ((config.stars_per_quarter as f64) * star_factor[qi % 4]).round() as usize;
        let qwcs_r = mosaic.quarter_wcs(&wcs_r, *cell).prepare()?;
        let qwcs_b = mosaic.quarter_wcs(&wcs_b, *cell).prepare()?;
        let cov = coverage[qi % 4];
        observed.insert(
            q.clone(),
            plan.epochs.iter().map(|_| rng.uniform() < cov).collect(),
        );
        let mut number = 100 + rng.below(900);
        for i in 0..n {
            number += 1 + rng.below(40);
            let x = (rng.range(2.0, q_size - 1.0) * 100.0).round() / 100.0;
            let y = (rng.range(2.0, q_size - 1.0) * 100.0).round() / 100.0;
            let Some(radec) = qwcs_r.pix2sky(x, y) else {
                continue;
            };
            let Some((xb, yb)) = qwcs_b.sky2pix(radec.0, radec.1) else {
                continue;
            };
            // A star is measured in both colours only where both reference images see it:
            // near an edge the blue image, offset from the red one, may not.
            let (xb, yb) = ((xb * 100.0).round() / 100.0, (yb * 100.0).round() / 100.0);
            let on_image = 0.5..=q_size + 0.5;
            if !(on_image.contains(&xb) && on_image.contains(&yb)) {
                continue;
            }
            let is_event = plan
                .events
                .iter()
                .any(|(c, eq, k)| *c == ccd && eq == q && *k == i);
            let mag_r = rng.range(15.0, 20.5);
            stars.push(Star {
                id: format!("{}{}{}{}", plan.name, ccd, q, number),
                quarter: q.clone(),
                xy_r: (x, y),
                xy_b: (xb, yb),
                radec,
                mag_r,
                mag_b: mag_r + rng.range(0.1, 0.9),
                variability: draw_variability(
                    rng,
                    is_event.then_some(EventWindow {
                        span: (first, last),
                        te: DEMO_EVENT_TE,
                    }),
                    config.periodic_fraction,
                ),
            });
        }
    }

    Ok((stars, observed))
}

/// Writes the light-curve file of every star; returns the tally per colour and quarter.
fn write_lightcurves(
    plan: &FieldPlan,
    ccd: i32,
    stars: &[Star],
    observed: &BTreeMap<String, Vec<bool>>,
    root: &Path,
    rng: &mut Rng,
    truth: &mut Truth,
) -> Result<QuarterTally> {
    let lc_dir = root
        .join("lightcurves")
        .join(&plan.name)
        .join(format!("{}{}", plan.name, ccd));
    std::fs::create_dir_all(&lc_dir)?;
    let mut counts = QuarterTally::new();
    for star in stars {
        let no_ref = |colour: &str| {
            plan.missing_reference
                .contains(&(colour.to_string(), ccd, star.quarter.clone()))
        };
        let mut rows = Vec::new();
        let mut valid = [0u64; 2];
        for (e, epoch) in plan.epochs.iter().enumerate() {
            if !observed[&star.quarter][e] {
                continue;
            }
            let mut values = [None, None];
            for (ci, colour) in ["R", "B"].iter().enumerate() {
                if no_ref(colour) || rng.uniform() < 0.04 {
                    continue;
                }
                let m = star.mag_at(epoch.mjd, colour);
                let err = mag_error(m);
                values[ci] = Some((m + err * rng.normal(), err));
            }
            if values.iter().all(Option::is_none) {
                continue;
            }
            for (ci, v) in values.iter().enumerate() {
                if v.is_some() {
                    valid[ci] += 1;
                } else {
                    truth.n_missing_values += 1;
                }
            }
            rows.push((epoch.mjd, values));
        }
        for (ci, colour) in ["R", "B"].iter().enumerate() {
            let entry = counts
                .entry((colour.to_string(), star.quarter.clone()))
                .or_default();
            entry.0 += valid[ci];
            entry.1 += (valid[ci] > 0) as u64;
            truth.n_measurements += valid[ci];
        }
        lightcurve_out::write(
            &lc_dir.join(format!("{}.time", star.id)),
            star,
            &rows,
            [no_ref("R"), no_ref("B")],
        )?;
        truth.n_stars += 1;
        truth
            .events
            .extend(truth::EventTruth::of(&star.id, &star.variability));
        truth
            .periodic
            .extend(truth::PeriodicTruth::of(&star.id, &star.variability));
    }
    Ok(counts)
}

fn push_quarter_counts(
    truth: &mut Truth,
    plan: &FieldPlan,
    ccd: i32,
    quarters: &[(String, [u32; 2])],
    counts: &QuarterTally,
) {
    for colour in ["R", "B"] {
        for (q, _) in quarters {
            let (n, s) = counts
                .get(&(colour.to_string(), q.clone()))
                .copied()
                .unwrap_or((0, 0));
            truth.counts.push(QuarterCount {
                field: plan.name.clone(),
                colour: colour.to_string(),
                ccd,
                quarter: q.clone(),
                n_measurements: n,
                n_stars: s,
            });
        }
    }
}

fn write_stars_truth(root: &Path, plan: &FieldPlan, ccd: i32, stars: &[Star]) -> Result<()> {
    let dir = root.join("truth").join("stars");
    std::fs::create_dir_all(&dir)?;
    let mut text = String::from("star_id,ra,dec,x_r,y_r,x_b,y_b,mag_r,mag_b,class\n");
    for s in stars {
        text.push_str(&format!(
            "{},{:.10},{:.10},{:.2},{:.2},{:.2},{:.2},{:.3},{:.3},{}\n",
            s.id,
            s.radec.0,
            s.radec.1,
            s.xy_r.0,
            s.xy_r.1,
            s.xy_b.0,
            s.xy_b.1,
            s.mag_r,
            s.mag_b,
            s.variability.class()
        ));
    }
    std::fs::write(dir.join(format!("{}{}.csv", plan.name, ccd)), text)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn write_images(
    config: &DemoConfig,
    conventions: &Conventions,
    mosaic: &Mosaic,
    plan: &FieldPlan,
    ccd: i32,
    stars: &[Star],
    root: &Path,
    rng: &mut Rng,
    truth: &mut Truth,
) -> Result<()> {
    let electronics = eros2_electronics();
    for colour in ["R", "B"] {
        let camera = conventions.camera_of_colour(colour).unwrap_or(0);
        let cam = Camera {
            plan,
            ccd,
            colour,
            camera,
            electronics: electronics
                .get(&(camera, ccd))
                .copied()
                .context("no electronics for this CCD")?,
            dir: root
                .join("images")
                .join(&plan.name)
                .join(format!("{}{}{}", plan.name, camera, ccd)),
            ccd_wcs: mosaic.ccd_wcs(plan.centre, colour, ccd),
        };
        std::fs::create_dir_all(&cam.dir)?;
        cam.write_references(conventions, mosaic, stars, rng, truth)?;
        cam.write_currents(config, conventions, stars, rng, truth)?;
    }
    Ok(())
}

/// One camera's CCD of a field: where its images go and what their headers say.
struct Camera<'a> {
    plan: &'a FieldPlan,
    ccd: i32,
    colour: &'a str,
    camera: i32,
    electronics: CcdElectronics,
    dir: PathBuf,
    ccd_wcs: skyql_udfs::wcs::Wcs,
}

impl Camera<'_> {
    fn keywords(&self, kind: &str, quarter: &str) -> Vec<(&'static str, String, &'static str)> {
        let filter = if self.colour == "R" {
            "EROS-R"
        } else {
            "EROS-B"
        };
        vec![
            ("OBJECT", self.plan.name.clone(), "survey field"),
            ("TELESCOP", "MARLY".into(), "1 m Marly telescope, La Silla"),
            ("INSTRUME", "EROS-2".into(), "two cameras behind a dichroic"),
            ("FILTER", filter.to_string(), "camera band"),
            ("IMAGETYP", kind.to_string(), "d reference, e current"),
            ("ORIGIN", "skyql demo survey".into(), "synthetic data"),
            ("QUARTER", quarter.to_string(), "CCD quarter, t = whole CCD"),
        ]
    }

    fn int_keywords(&self) -> Vec<(&'static str, i64, &'static str)> {
        vec![
            ("CAMERA", self.camera as i64, "camera digit"),
            ("CCD", self.ccd as i64, "CCD"),
        ]
    }

    fn emit(&self, spec: &ImageSpec<'_>, name: String, rng: &mut Rng) -> Result<()> {
        let pixels = fits_out::render(spec, rng);
        fits_out::write_image(&self.dir.join(name), spec, &pixels)
    }

    /// Reference images: one per quarter, at the mean magnitudes.
    fn write_references(
        &self,
        conventions: &Conventions,
        mosaic: &Mosaic,
        stars: &[Star],
        rng: &mut Rng,
        truth: &mut Truth,
    ) -> Result<()> {
        let (plan, colour, ccd) = (self.plan, self.colour, self.ccd);
        let mean: Vec<(f64, f64, f64)> = stars
            .iter()
            .map(|s| {
                let mag = if colour == "R" { s.mag_r } else { s.mag_b };
                (s.radec.0, s.radec.1, mag)
            })
            .collect();
        for (q, cell) in &conventions.quarters {
            if plan
                .missing_reference
                .contains(&(colour.to_string(), ccd, q.clone()))
            {
                truth
                    .missing_reference
                    .push(format!("{} {colour} {ccd} {q}", plan.name));
                continue;
            }
            let wcs = mosaic.quarter_wcs(&self.ccd_wcs, *cell);
            let spec = ImageSpec {
                size: mosaic.quarter_size(),
                wcs: &wcs,
                stars: &mean,
                exptime: 600.0,
                mjd: plan.reference_mjd,
                airmass: 1.3,
                electronics: self.electronics,
                keywords: self.keywords("REFERENCE", q),
                int_keywords: self.int_keywords(),
                alignment: None,
            };
            let name = format!(
                "{}{}{}{}bd{}.fits",
                plan.name, self.camera, ccd, q, plan.reference_token
            );
            self.emit(&spec, name, rng)?;
            truth.n_reference_images += 1;
        }
        Ok(())
    }

    /// Current images: one per exposure, whole CCD.
    fn write_currents(
        &self,
        config: &DemoConfig,
        conventions: &Conventions,
        stars: &[Star],
        rng: &mut Rng,
        truth: &mut Truth,
    ) -> Result<()> {
        let whole = &conventions.ccd.whole_ccd_quarter;
        for epoch in &self.plan.epochs {
            let mut wcs = self.ccd_wcs.clone();
            wcs.crpix[0] += epoch.jitter.0;
            wcs.crpix[1] += epoch.jitter.1;
            let now: Vec<(f64, f64, f64)> = stars
                .iter()
                .map(|s| (s.radec.0, s.radec.1, s.mag_at(epoch.mjd, self.colour)))
                .collect();
            let spec = ImageSpec {
                size: config.ccd_size,
                wcs: &wcs,
                stars: &now,
                exptime: epoch.exptime,
                mjd: epoch.mjd,
                airmass: epoch.airmass,
                electronics: self.electronics,
                keywords: self.keywords("CURRENT", whole),
                int_keywords: self.int_keywords(),
                alignment: Some(epoch.jitter),
            };
            let name = format!(
                "{}{}{}{}be{}.fits",
                self.plan.name, self.camera, self.ccd, whole, epoch.token
            );
            self.emit(&spec, name, rng)?;
            truth.n_current_images += 1;
        }
        Ok(())
    }
}
