//! What an ingest carries over from the previous catalogue version: the measurement files
//! of untouched fields hard-linked unchanged, those of touched fields without the
//! (star, colour) rows the new light curves replace, the star rows of a field to merge
//! the new ones into.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::measurements;
use super::stars::{StarRecord, stars_from_batch};
use crate::catalog::parquet_io::{read_parquet, write_parquet};
use crate::schema;

/// Star rows of a field in the previous version.
pub(super) fn previous_stars(
    dir: Option<&PathBuf>,
    field: &str,
) -> Result<BTreeMap<String, StarRecord>> {
    let mut records = BTreeMap::new();
    if let Some(dir) = dir {
        for file in parquet_files(dir)? {
            for b in read_parquet(&file)? {
                for r in stars_from_batch(field, &b)? {
                    records.insert(r.star_id.clone(), r);
                }
            }
        }
    }
    Ok(records)
}

/// `field=X` subdirectories of a partitioned table, by field.
pub(super) fn field_dirs(table: &Path) -> BTreeMap<String, PathBuf> {
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

pub(super) fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>> {
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
pub(super) fn link_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for f in parquet_files(from)? {
        let dest = to.join(f.file_name().context("file without a name")?);
        link_or_copy(&f, &dest)?;
    }
    Ok(())
}

pub(super) fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// Carries the previous measurements over: files of fields this ingest touches are
/// filtered of the replaced (star, colour) rows; the others are hard-linked unchanged.
pub(super) fn carry_measurements(
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
                kept.push(measurements::to_file_schema(&k)?);
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
