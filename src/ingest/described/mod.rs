//! Light-curve formats described by data: a TOML file per layout
//! (`datasets/formats/*.toml`, compiled in; more with `--format-file`), read by one
//! reader. docs/FORMATS.md documents the description file.

pub mod description;
pub mod detect;
pub mod reader;
pub mod template;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Result, bail};

pub use description::FormatDescription;
pub use reader::read_described;

/// The shipped descriptions, name and text, in the order `--format auto` tries them.
const SHIPPED: &[(&str, &str)] = &[
    ("eros", include_str!("../../../datasets/formats/eros.toml")),
    (
        "macho",
        include_str!("../../../datasets/formats/macho.toml"),
    ),
    ("ogle", include_str!("../../../datasets/formats/ogle.toml")),
    ("moa", include_str!("../../../datasets/formats/moa.toml")),
    (
        "kmtnet",
        include_str!("../../../datasets/formats/kmtnet.toml"),
    ),
    ("asas", include_str!("../../../datasets/formats/asas.toml")),
    ("ipac", include_str!("../../../datasets/formats/ipac.toml")),
];

/// The shipped descriptions, compiled once. A shipped file that does not compile is a
/// bug of this build (a test compiles them all); it is reported, not a panic.
pub fn shipped() -> Result<&'static [FormatDescription]> {
    static CELL: OnceLock<Result<Vec<FormatDescription>, String>> = OnceLock::new();
    let compiled = CELL.get_or_init(|| {
        SHIPPED
            .iter()
            .map(|(name, text)| {
                FormatDescription::parse(text, &format!("datasets/formats/{name}.toml"))
                    .map_err(|e| format!("{e:#}"))
            })
            .collect()
    });
    match compiled {
        Ok(v) => Ok(v.as_slice()),
        Err(e) => bail!("{e}"),
    }
}

/// The shipped description called `name`.
pub fn shipped_named(name: &str) -> Result<&'static FormatDescription> {
    let all = shipped()?;
    match all.iter().find(|d| d.name == name) {
        Some(d) => Ok(d),
        None => {
            let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
            bail!(
                "no format description named '{name}' (shipped: {}, fits, auto; or give --format-file FILE.toml)",
                names.join(", ")
            )
        }
    }
}

/// A description read from a file, kept for the life of the process (an ingest reads
/// a handful at most).
pub fn load_file(path: &Path) -> Result<&'static FormatDescription> {
    let d = FormatDescription::from_file(path)?;
    Ok(Box::leak(Box::new(d)))
}

/// The shipped description `--format auto` picks for a file name, if one claims it.
pub fn for_file_name(name: &str) -> Option<&'static FormatDescription> {
    shipped()
        .ok()?
        .iter()
        .find(|d| d.auto && d.matches_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_description_compiles_and_auto_claims_distinct_names() {
        let all = shipped().unwrap();
        assert_eq!(all.len(), SHIPPED.len());
        for (d, (name, _)) in all.iter().zip(SHIPPED) {
            assert_eq!(&d.name, name);
        }
        let claim = |n: &str| for_file_name(n).map(|d| d.name.as_str());
        assert_eq!(claim("lm0010n22323.time"), Some("eros"));
        assert_eq!(claim("lc_1.3444.614.B.mjd"), Some("macho"));
        assert_eq!(claim("KMTA12_I.pysis"), Some("kmtnet"));
        assert_eq!(claim("lcMB20208.moa2r"), Some("moa"));
        assert_eq!(claim("OB03235_OGLE.tbl.txt"), Some("ipac"));
        // Names as common as .dat or .csv are read only when asked (--format).
        assert_eq!(claim("phot.dat"), None);
        assert_eq!(claim("stars.csv"), None);
    }
}
