//! `hats.properties` and `collection.properties`: Java properties files (`key=value`
//! lines, `#` comments), written in a fixed key order and read back for `--table`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

/// The text of a properties file from `(key, value)` pairs, in order.
pub fn properties_text(comment: &str, pairs: &[(&str, String)]) -> String {
    let mut text = format!("#{comment}\n");
    for (key, value) in pairs {
        let value = value.replace(['\n', '\r'], " ");
        text.push_str(&format!("{key}={value}\n"));
    }
    text
}

/// The `key=value` pairs of a properties file (blank lines and comments skipped; `=` or
/// `:` separates, spaces around it trimmed).
pub fn read_properties(path: &Path) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(parse_properties(&text))
}

/// The `key=value` pairs of a properties file's text.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let at = l.find(['=', ':'])?;
            Some((l[..at].trim().to_string(), l[at + 1..].trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_properties_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hats.properties");
        let text = properties_text(
            "HATS catalog",
            &[
                ("obs_collection", "stars".into()),
                ("hats_col_ra", "ra\nx".into()),
            ],
        );
        std::fs::write(&path, text).unwrap();
        let read = read_properties(&path).unwrap();
        assert_eq!(read["obs_collection"], "stars");
        assert_eq!(read["hats_col_ra"], "ra x");
    }
}
