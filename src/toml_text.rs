//! TOML files read with errors that name the file and the line but never quote it: toml's
//! own message shows the line, which may hold a secret (a key written where it does not
//! belong, a password hash).

use std::path::Path;

use serde::de::DeserializeOwned;

/// `text`, the content of the `what` at `path`, parsed.
pub fn parse<T: DeserializeOwned>(text: &str, path: &Path, what: &str) -> anyhow::Result<T> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let at = line.map(|l| format!(", line {l}")).unwrap_or_default();
        anyhow::anyhow!("invalid {what} {}{at}: {}", path.display(), e.message())
    })
}
