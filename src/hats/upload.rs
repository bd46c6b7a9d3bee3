//! `skyql hats export --out s3://BUCKET/PREFIX`: a HATS collection written locally (in a
//! scratch directory) and put on an S3-compatible store so that a reader finds either no
//! collection or the whole of it, and two writers cannot both write there:
//!
//! 1. a collection already there is refused (`collection.properties`, `hats.properties`);
//! 2. the writer takes `PREFIX/.skyql-export.lock` with a conditional put (create only:
//!    `If-None-Match: *`); a second writer is refused before it writes anything;
//! 3. the data files go first, then each catalogue's `partition_info.csv` and
//!    `hats.properties` (a catalogue is read only once its properties exist), then
//!    `collection.properties`, created only if absent, last;
//! 4. the lock is removed.
//!
//! A writer killed at any moment leaves no collection (its files without the properties
//! that make them one) or the whole collection; its lock stays, so that nothing is
//! written over its files until someone who knows that no export runs removes it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use url::Url;

use crate::object_stores::scratch_dir::{files_under, key_under};
use crate::object_stores::transfer::{key_at, put_if_absent, put_small, put_streamed};
use crate::object_stores::{remote_store, store_path};

/// The lock object of an export in progress.
pub const LOCK_NAME: &str = ".skyql-export.lock";

/// Files put at once.
const CONCURRENT_PUTS: usize = 8;

/// An export to S3 under way: the prefix checked and its lock taken.
pub struct S3Export {
    url: Url,
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
}

impl S3Export {
    /// Checks that `url` (an `s3://` URL) holds no catalogue and takes its lock.
    pub async fn begin(url: &Url) -> Result<S3Export> {
        if url.scheme() != "s3" {
            bail!("{url}: skyql writes to s3:// stores only (web servers are read-only)");
        }
        let export = S3Export {
            url: url.clone(),
            store: remote_store(url)?,
            prefix: store_path(url)?,
        };
        for existing in ["collection.properties", "hats.properties", "properties"] {
            match export.store.head(&export.at(existing)).await {
                Ok(_) => {
                    bail!("{url} already holds a HATS catalogue ({existing}): give a new prefix")
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(anyhow::anyhow!("cannot read {url}: {e}")),
            }
        }
        let note = format!("skyql hats export, process {}\n", std::process::id());
        if !put_if_absent(&export.store, &export.at(LOCK_NAME), note.into()).await? {
            bail!(
                "{url}/{LOCK_NAME} exists: another export is writing there, or one was \
                 interrupted (remove the lock once no export runs, and the prefix's files \
                 with it)"
            );
        }
        Ok(export)
    }

    /// The object-store path of `name` under the prefix.
    fn at(&self, name: &str) -> StorePath {
        key_at(&self.prefix, name)
    }

    /// Puts the local collection `local` there, `collection.properties` last and only if
    /// absent, then removes the lock; returns the number of files put.
    pub async fn finish(self, local: &Path) -> Result<usize> {
        let url = &self.url;
        let files = files_in_commit_order(local)?;
        let (last, rest) = files.split_last().context("the export wrote no file")?;
        let key = |file: &PathBuf| self.at(&key_under(local, file));
        // Data files in parallel, streamed; each catalogue's description files after them.
        let (data, described): (Vec<&PathBuf>, Vec<&PathBuf>) =
            rest.iter().partition(|f| !is_description(f));
        futures::stream::iter(data)
            .map(|file| {
                let (store, target) = (Arc::clone(&self.store), key(file));
                async move { put_streamed(&store, file, &target).await }
            })
            .buffer_unordered(CONCURRENT_PUTS)
            .try_collect::<Vec<()>>()
            .await
            .with_context(|| format!("cannot put the collection's files at {url}"))?;
        for file in described {
            put_small(&self.store, file, &key(file), PutOptions::default())
                .await
                .with_context(|| format!("cannot put {url}"))?;
        }
        let create = PutOptions::from(PutMode::Create);
        put_small(&self.store, last, &key(last), create)
            .await
            .with_context(|| format!("cannot commit the collection at {url}"))?;
        self.store
            .delete(&self.at(LOCK_NAME))
            .await
            .map_err(|e| anyhow::anyhow!("the collection is at {url}, but its lock stayed: {e}"))?;
        Ok(files.len())
    }

    /// Gives the prefix up after a failed export that put nothing there: the lock removed.
    pub async fn abandon(self) {
        let _ = self.store.delete(&self.at(LOCK_NAME)).await;
    }
}

/// Puts the local HATS collection `local` at the new prefix `url` (an `s3://` URL);
/// returns the number of files put.
pub async fn upload_collection(local: &Path, url: &Url) -> Result<usize> {
    S3Export::begin(url).await?.finish(local).await
}

/// Whether a file describes a catalogue (read by readers to find its data).
fn is_description(file: &Path) -> bool {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".properties") || name == "partition_info.csv"
}

/// Every file of the local collection: data, then descriptions (`partition_info.csv`
/// before `hats.properties`), then `collection.properties` (or, for a lone catalogue,
/// its `hats.properties`) last.
fn files_in_commit_order(local: &Path) -> Result<Vec<PathBuf>> {
    let mut files = files_under(local)?;
    let rank = |f: &PathBuf| {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        match name {
            "collection.properties" => 4,
            _ if f.parent() == Some(local) && name == "hats.properties" => 3,
            "hats.properties" | "properties" => 2,
            "partition_info.csv" => 1,
            _ => 0,
        }
    };
    files.sort_by_key(|f| (rank(f), f.clone()));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collection_properties_go_last_and_data_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "collection.properties",
            "stars/hats.properties",
            "stars/partition_info.csv",
            "stars/dataset/Norder=0/Dir=0/Npix=1.parquet",
            "stars_10arcs/hats.properties",
            "stars_10arcs/dataset/Norder=0/Dir=0/Npix=1.parquet",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let order: Vec<String> = files_in_commit_order(root)
            .unwrap()
            .iter()
            .map(|f| key_under(root, f))
            .collect();
        assert_eq!(order.last().unwrap(), "collection.properties");
        let first_description = order
            .iter()
            .position(|f| is_description(Path::new(f)))
            .unwrap();
        assert!(
            order[..first_description]
                .iter()
                .all(|f| f.ends_with(".parquet"))
        );
        let partition = order
            .iter()
            .position(|f| f == "stars/partition_info.csv")
            .unwrap();
        let properties = order
            .iter()
            .position(|f| f == "stars/hats.properties")
            .unwrap();
        assert!(partition < properties, "{order:?}");
    }
}
