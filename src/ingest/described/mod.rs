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

/// The names `--format auto` reads, for messages: FITS by its extensions, then each
/// shipped light-curve format with the first of its name patterns that reads as a glob
/// (`\\.time$` is `*.time`). Derived from the descriptions, so that a new format's names
/// appear in every message without being written there.
pub fn recognised_names() -> String {
    let fits = crate::formats::fits::FITS_EXTENSIONS
        .iter()
        .map(|e| format!("*.{e}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut parts = vec![format!("FITS ({fits})")];
    for d in shipped().unwrap_or_default().iter().filter(|d| d.auto) {
        match d.file_names.iter().find_map(|r| as_glob(r.as_str())) {
            Some(glob) => parts.push(format!("{} ({glob})", d.name)),
            None => parts.push(d.name.clone()),
        }
    }
    parts.join(", ")
}

/// A name pattern as a glob, when it is a literal name with `.*` wildcards, anchored or
/// ending in an extension.
fn as_glob(pattern: &str) -> Option<String> {
    let body = pattern.strip_suffix('$')?;
    let (body, anchored) = match body.strip_prefix('^') {
        Some(rest) => (rest, true),
        None => (body, false),
    };
    let mut glob = String::from(if anchored { "" } else { "*" });
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                chars.next();
                glob.push('.');
            }
            '.' if chars.peek() == Some(&'*') => {
                chars.next();
                glob.push('*');
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => glob.push(c),
            _ => return None,
        }
    }
    Some(glob)
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
    fn recognised_names_come_from_the_descriptions() {
        let names = recognised_names();
        for part in [
            "FITS (*.fits, *.fit, *.fts)",
            "eros (*.time)",
            "macho (lc_*.mjd)",
            "kmtnet (*.pysis)",
            "ipac (*.tbl)",
            "moa",
        ] {
            assert!(names.contains(part), "{names}");
        }
        assert_eq!(as_glob(r"^star[A-Z]+\d+\.dat$"), None);
    }

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
