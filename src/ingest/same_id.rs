//! Two different files that give the same star id and band: within one ingest the second
//! is rejected (`account_lightcurve`); across ingests, a file replaces the earlier rows of
//! its (star, band) only when the star's earlier rows came from that same file. Another
//! file with the same id is rejected whole, never a silent replacement of another object's
//! measurements (a description whose id is not unique: OGLE's `phot.dat` in several
//! directories, one event seen by two telescopes of one site code).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::Result;

use super::lightcurve::{LightCurve, colour_index};
use super::stars::StarRecord;

/// The previous version's stars, field by field as the light curves need them; the
/// stars step takes them from here instead of reading them again.
#[derive(Default)]
pub struct EarlierStars {
    by_field: HashMap<String, BTreeMap<String, StarRecord>>,
}

impl EarlierStars {
    /// The earlier stars of `field` (read once), or none for a field without stars.
    fn field(
        &mut self,
        prev_dir: Option<&PathBuf>,
        field: &str,
    ) -> Result<&BTreeMap<String, StarRecord>> {
        if !self.by_field.contains_key(field) {
            let records = read(prev_dir, field)?;
            self.by_field.insert(field.to_string(), records);
        }
        Ok(&self.by_field[field])
    }

    /// The earlier stars of `field`, handed over to the stars step (read now if no light
    /// curve needed them).
    pub fn take(
        &mut self,
        prev_dir: Option<&PathBuf>,
        field: &str,
    ) -> Result<BTreeMap<String, StarRecord>> {
        match self.by_field.remove(field) {
            Some(records) => Ok(records),
            None => read(prev_dir, field),
        }
    }

    /// Why `lc` may not replace the earlier rows of its star, if it may not.
    pub fn conflict(&mut self, prev_dir: Option<&PathBuf>, lc: &LightCurve) -> Option<String> {
        let stars = match self.field(prev_dir, &lc.field) {
            Ok(s) => s,
            Err(e) => {
                return Some(format!(
                    "cannot read the earlier stars of field {}: {e:#}",
                    lc.field
                ));
            }
        };
        let earlier = stars.get(&lc.star_id)?;
        let replaces = lc
            .colours
            .iter()
            .any(|&c| earlier.colours[colour_index(c)].n > 0);
        let sources = &earlier.sources;
        if !replaces || sources.contains(&lc.source) {
            return None;
        }
        let earlier: Vec<&str> = sources.iter().map(String::as_str).collect();
        Some(format!(
            "star {} (field {}) was ingested from {}; this file gives the same id and band: not written (another object? give its format description a distinct star id, e.g. with {{file.dir}})",
            lc.star_id,
            lc.field,
            if earlier.is_empty() {
                "a generated catalogue".to_string()
            } else {
                earlier.join(", ")
            }
        ))
    }
}

/// The stars of `field` in the version directory `prev_dir`, none when it has none.
fn read(prev_dir: Option<&PathBuf>, field: &str) -> Result<BTreeMap<String, StarRecord>> {
    let dir = prev_dir.map(|d| d.join("stars").join(format!("field={field}")));
    super::carry_over::previous_stars(dir.as_ref().filter(|d| d.is_dir()), field)
}
