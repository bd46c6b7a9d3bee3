//! A catalogue on an object store: `s3://BUCKET/PREFIX` (read and written) or an
//! `http(s)://` URL (read-only), laid out as on disk.
//!
//! ```text
//! s3://bucket/eros2/
//!   manifest.json            the commit point: put last, conditionally (see remote_write)
//!   .write.lock              the writer's lock while an ingest runs (create-only put)
//!   v000003/...              the current version, files as in a local catalogue
//!   v000002/...              the previous one, kept for the readers still on it
//!   rejects/ingest-000003.tsv
//! ```
//!
//! A reader gets `manifest.json` (one request; its ETag is the version's stamp) and the
//! version's `conventions.toml`, then reads the data files the manifest lists, never a
//! listing: a file the manifest lists that is missing is an error, never a table with
//! fewer rows, and every read is checked against the file's block checksums
//! ([`crate::engine::manifest_store`]).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use object_store::{ObjectMeta, ObjectStoreExt};
use url::Url;

use super::manifest::{MANIFEST_FILE, Manifest};
use super::{CONVENTIONS_FILE, Catalog};
use crate::object_stores::{
    join_url, read_remote, read_remote_text, remote_store, store_path, without_final_slash,
};

/// Where a remote catalogue is and what was read of it besides its manifest.
#[derive(Debug, Clone)]
pub struct RemoteCatalog {
    /// The catalogue's URL, without a final `/`.
    pub url: Url,
    /// The stamp of the manifest read ([`manifest_stamp`]'s text), when the store gave
    /// one: a long-lived reader compares it with the manifest's at each request.
    pub stamp: Option<String>,
    /// The current version's `conventions.toml`, if it has one.
    pub conventions: Option<String>,
}

impl RemoteCatalog {
    /// The URL of the directory `relative` (or file) of the catalogue.
    pub fn url_of(&self, relative: &str) -> Url {
        join_url(&self.url, relative)
    }
}

/// The manifest at `url` and what the store says of it (its ETag); none when there is no
/// manifest.
pub async fn read_manifest(url: &Url) -> Result<Option<(Manifest, ObjectMeta)>> {
    let Some((bytes, meta)) = read_remote(&join_url(url, MANIFEST_FILE)).await? else {
        return Ok(None);
    };
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{url}/{MANIFEST_FILE} is not a skyql manifest"))?;
    manifest
        .validate()
        .with_context(|| format!("refusing the manifest {url}/{MANIFEST_FILE}"))?;
    Ok(Some((manifest, meta)))
}

/// Opens the catalogue at `url` on the version its manifest names.
pub async fn open(url: &Url) -> Result<Catalog> {
    let url = without_final_slash(url);
    let Some((manifest, meta)) = read_manifest(&url).await? else {
        bail!(
            "{url} is not a skyql catalogue: no {MANIFEST_FILE} (create one with `skyql ingest --catalog {url}`)"
        );
    };
    let conventions_url = join_url(
        &url,
        &format!("{}/{CONVENTIONS_FILE}", manifest.version_dir),
    );
    let conventions = read_remote_text(&conventions_url).await?;
    Ok(Catalog {
        dir: PathBuf::from(url.as_str()),
        manifest,
        remote: Some(Arc::new(RemoteCatalog {
            url,
            stamp: stamp_of(&meta),
            conventions,
        })),
    })
}

/// Opens the catalogue at `url` from synchronous code.
pub fn open_blocking(url: &Url) -> Result<Catalog> {
    crate::object_stores::block_on(open(url))?
}

/// What identifies a manifest object: its ETag, else its size and time.
fn stamp_of(meta: &ObjectMeta) -> Option<String> {
    match &meta.e_tag {
        Some(tag) => Some(tag.clone()),
        None => Some(format!(
            "{} {}",
            meta.size,
            meta.last_modified.timestamp_nanos_opt()?
        )),
    }
}

/// What identifies the manifest at `url` as it is now (one `HEAD` request); none when
/// there is no manifest or the store cannot be reached.
pub async fn manifest_stamp(url: &Url) -> Option<String> {
    let store = remote_store(url).ok()?;
    let path = store_path(url).ok()?.join(MANIFEST_FILE);
    stamp_of(&store.head(&path).await.ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_slash_names_the_same_catalogue() {
        let a = without_final_slash(&Url::parse("s3://bucket/eros2/").unwrap());
        let b = without_final_slash(&Url::parse("s3://bucket/eros2").unwrap());
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "s3://bucket/eros2");
        let remote = RemoteCatalog {
            url: a,
            stamp: None,
            conventions: None,
        };
        assert_eq!(
            remote.url_of("v000002/stars/").as_str(),
            "s3://bucket/eros2/v000002/stars"
        );
    }
}
