//! Two different files that give the same star id and band: within one ingest the second
//! is rejected (`account_lightcurve`); across ingests, a file replaces the earlier rows of
//! its (star, band) only when the star's earlier rows came from that same file. Another
//! file with the same id is rejected whole, never a silent replacement of another object's
//! measurements (a description whose id is not unique: OGLE's `phot.dat` in several
//! directories, one event seen by two telescopes of one site code).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use super::lightcurve::{LightCurve, colour_index};

/// What the previous version says of a star: the files read, measurements per slot.
type Earlier = (BTreeSet<String>, [i64; 2]);

/// The previous version's stars, field by field as they are needed.
#[derive(Default)]
pub struct EarlierStars {
    by_field: HashMap<String, HashMap<String, Earlier>>,
}

impl EarlierStars {
    /// Why `lc` may not replace the earlier rows of its star, if it may not.
    pub fn conflict(&mut self, prev_dir: Option<&PathBuf>, lc: &LightCurve) -> Option<String> {
        let stars = match self.by_field.get(&lc.field) {
            Some(s) => s,
            None => {
                let dir = prev_dir.map(|d| d.join("stars").join(format!("field={}", lc.field)));
                let loaded =
                    match super::previous_stars(dir.as_ref().filter(|d| d.is_dir()), &lc.field) {
                        Ok(records) => records
                            .into_iter()
                            .map(|(id, r)| (id, (r.sources, [r.colours[0].n, r.colours[1].n])))
                            .collect(),
                        Err(e) => {
                            return Some(format!(
                                "cannot read the earlier stars of field {}: {e:#}",
                                lc.field
                            ));
                        }
                    };
                self.by_field.entry(lc.field.clone()).or_insert(loaded)
            }
        };
        let (sources, n) = stars.get(&lc.star_id)?;
        let replaces = lc.colours.iter().any(|&c| n[colour_index(c)] > 0);
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
