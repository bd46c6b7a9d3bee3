//! Writing a catalogue on S3 (`skyql ingest --catalog s3://BUCKET/PREFIX`): the local
//! commit protocol ([`super::version`]) run on a scratch copy, then put on the store so
//! that a reader finds the old version or the new one, never a mixture, and two writers
//! cannot both publish:
//!
//! 1. the writer takes `PREFIX/.write.lock` with a conditional put (create only); a lock
//!    left by a writer of this machine that no longer runs (its process is gone) is taken
//!    over with a put conditional on the lock's ETag, so that two takers cannot both win;
//! 2. it reads `manifest.json` and its ETag, removes the leftovers of interrupted writes
//!    (version prefixes newer than the manifest's) and copies the current version into a
//!    scratch catalogue under TMPDIR;
//! 3. the ingest runs on the scratch catalogue as on any local one;
//! 4. the new version's files are put under `PREFIX/vNNNNNN/` (a file the new version
//!    keeps unchanged is copied inside the store, not sent again), then the rejects;
//! 5. `manifest.json` is put only if its ETag is still the one read in step 2 (`If-Match`;
//!    `If-None-Match: *` for a new catalogue): the commit point;
//! 6. the versions before the previous one are removed (the previous one stays for the
//!    readers still on it), then the lock.
//!
//! A writer killed before step 5 leaves the old version (its files in a prefix no manifest
//! names, removed by the next writer); after it, the new one. A lock left by a writer of
//! another machine stays until someone who knows that it no longer runs removes it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
use serde::{Deserialize, Serialize};
use url::Url;

use super::manifest::{MANIFEST_FILE, Manifest};
use super::parse_version_dir_name;
use crate::object_stores::scratch_dir::{ScratchDir, files_under, key_under};
use crate::object_stores::transfer::{get_streamed, key_at, put_if_absent, put_streamed};
use crate::object_stores::{remote_store, store_path, without_final_slash};

/// The writer's lock object.
pub const LOCK_NAME: &str = ".write.lock";

/// Files read or put at once.
const CONCURRENT: usize = 8;

/// Who holds a lock: enough to tell, on the same machine, whether it still runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Holder {
    host: String,
    boot_id: String,
    pid: u32,
    /// The process's start time (clock ticks since boot): a pid reused by another process
    /// is not the holder.
    process_start: u64,
    /// When the lock was taken (seconds since 1970).
    since: u64,
}

impl Holder {
    fn this_process() -> Holder {
        let pid = std::process::id();
        Holder {
            host: read_trimmed("/proc/sys/kernel/hostname"),
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
            pid,
            process_start: process_start(pid).unwrap_or(0),
            since: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }

    /// Whether the holder is a process of this machine that no longer runs.
    fn is_gone(&self) -> bool {
        let here = Holder::this_process();
        !self.boot_id.is_empty()
            && self.host == here.host
            && self.boot_id == here.boot_id
            && process_start(self.pid) != Some(self.process_start)
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Field 22 of `/proc/PID/stat`: when the process started; none when it does not exist.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// A write under way: the lock held, the manifest read, the scratch catalogue ready.
pub struct RemoteWriter {
    url: Url,
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    /// The manifest when the write began and its ETag.
    previous: Option<(Manifest, Option<String>)>,
    /// The files of the versions before the current one when the write began, removed
    /// once the new version is published (the lock keeps other writers from adding any).
    superseded: Vec<StorePath>,
    scratch: ScratchDir,
}

impl RemoteWriter {
    /// Takes the lock of the catalogue at `url` (an `s3://` URL), reads its manifest,
    /// removes what interrupted writes left and copies the current version to a scratch
    /// catalogue.
    pub async fn begin(url: &Url) -> Result<RemoteWriter> {
        if url.scheme() != "s3" {
            bail!(
                "{url}: skyql writes catalogues to s3:// stores only (web servers are read-only)"
            );
        }
        let url = without_final_slash(url);
        let store = remote_store(&url)?;
        let prefix = store_path(&url)?;
        let scratch = ScratchDir::new("remote-ingest")?;
        let mut writer = RemoteWriter {
            url,
            store,
            prefix,
            previous: None,
            superseded: Vec::new(),
            scratch,
        };
        writer.lock().await?;
        match writer.prepare().await {
            Ok(()) => Ok(writer),
            Err(e) => {
                writer.release().await;
                Err(e)
            }
        }
    }

    /// The scratch catalogue the ingest writes.
    pub fn scratch_catalog(&self) -> PathBuf {
        self.scratch.path().join("catalog")
    }

    /// The catalogue's URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    fn at(&self, relative: &str) -> StorePath {
        key_at(&self.prefix, relative)
    }

    async fn lock(&self) -> Result<()> {
        let url = &self.url;
        let at = self.at(LOCK_NAME);
        let body = serde_json::to_vec(&Holder::this_process())?;
        if put_if_absent(&self.store, &at, body.clone().into()).await? {
            return Ok(());
        }
        let held = self
            .store
            .get(&at)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read {url}/{LOCK_NAME}: {e}"))?;
        let etag = held.meta.e_tag.clone();
        let text = held.bytes().await.unwrap_or_default();
        let holder: Option<Holder> = serde_json::from_slice(&text).ok();
        match holder {
            Some(h) if h.is_gone() && etag.is_some() => {
                let take_over = PutOptions::from(PutMode::Update(UpdateVersion {
                    e_tag: etag,
                    version: None,
                }));
                match self.store.put_opts(&at, body.into(), take_over).await {
                    Ok(_) => {
                        eprintln!(
                            "skyql: {url}/{LOCK_NAME} was left by process {} of this machine, which no longer runs: taken over",
                            h.pid
                        );
                        Ok(())
                    }
                    Err(object_store::Error::Precondition { .. }) => {
                        bail!(
                            "{url}: another writer took the catalogue's lock first; try again once it is done"
                        )
                    }
                    Err(e) => bail!("cannot write {url}/{LOCK_NAME}: {e}"),
                }
            }
            Some(h) => bail!(
                "{url}/{LOCK_NAME}: an ingest by process {} on {} holds the catalogue (since {} s after 1970); wait for it, or remove the lock if that writer no longer runs",
                h.pid,
                h.host,
                h.since
            ),
            None => bail!(
                "{url}/{LOCK_NAME} exists and does not name its writer: remove it if no writer runs"
            ),
        }
    }

    /// Reads the manifest, removes interrupted writes' leftovers, copies the version.
    async fn prepare(&mut self) -> Result<()> {
        self.previous = super::remote::read_manifest(&self.url)
            .await?
            .map(|(manifest, meta)| (manifest, meta.e_tag));
        let current = self.previous.as_ref().map_or(0, |(m, _)| m.version);
        let objects: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(|e| anyhow::anyhow!("cannot list {}: {e}", self.url))?;
        if self.previous.is_none()
            && objects
                .iter()
                .any(|o| self.version_of(&o.location).is_some())
        {
            bail!(
                "{} holds catalogue versions but no {MANIFEST_FILE}: refusing to start a new catalogue over them",
                self.url
            );
        }
        // Versions newer than the manifest's: an interrupted write's.
        let leftovers: Vec<StorePath> = objects
            .iter()
            .filter(|o| self.version_of(&o.location).is_some_and(|v| v > current))
            .map(|o| o.location.clone())
            .collect();
        self.delete_all(leftovers).await?;
        self.superseded = objects
            .iter()
            .filter(|o| self.version_of(&o.location).is_some_and(|v| v < current))
            .map(|o| o.location.clone())
            .collect();
        let catalog = self.scratch_catalog();
        std::fs::create_dir_all(&catalog)
            .with_context(|| format!("cannot create {}", catalog.display()))?;
        let Some((manifest, _)) = &self.previous else {
            return Ok(());
        };
        let version = self.prefix.clone().join(manifest.version_dir.as_str());
        let files: Vec<(StorePath, PathBuf)> = objects
            .iter()
            .filter(|o| o.location.prefix_matches(&version))
            .map(|o| {
                let relative = o
                    .location
                    .prefix_match(&self.prefix)
                    .into_iter()
                    .flatten()
                    .map(|p| p.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/");
                (o.location.clone(), catalog.join(relative))
            })
            .collect();
        futures::stream::iter(files)
            .map(|(from, to)| {
                let store = Arc::clone(&self.store);
                async move { get_streamed(&store, &from, &to).await }
            })
            .buffer_unordered(CONCURRENT)
            .try_collect::<Vec<()>>()
            .await
            .with_context(|| format!("cannot copy the current version of {}", self.url))?;
        manifest.write(&catalog)?;
        Ok(())
    }

    /// The version number of an object inside a version prefix (`PREFIX/v000003/...`).
    fn version_of(&self, location: &StorePath) -> Option<u64> {
        let mut parts = location.prefix_match(&self.prefix)?;
        let first = parts.next()?;
        parts.next()?;
        parse_version_dir_name(first.as_ref())
    }

    async fn delete_all(&self, locations: Vec<StorePath>) -> Result<()> {
        let stream = futures::stream::iter(locations.into_iter().map(Ok)).boxed();
        self.store
            .delete_stream(stream)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| anyhow::anyhow!("cannot remove old files of {}: {e}", self.url))?;
        Ok(())
    }

    /// Puts the version the scratch catalogue holds now (if the ingest wrote one), the
    /// manifest last and conditionally; removes the versions before the previous one and
    /// the lock. The version number published (none when nothing changed).
    pub async fn publish(self) -> Result<Option<u64>> {
        let result = self.put_version().await;
        self.release().await;
        result
    }

    async fn put_version(&self) -> Result<Option<u64>> {
        let url = &self.url;
        let catalog = self.scratch_catalog();
        let manifest = Manifest::read(&catalog)?
            .context("the ingest left no manifest in its scratch catalogue")?;
        let previous = self.previous.as_ref().map(|(m, _)| m);
        if previous.is_some_and(|p| p.version == manifest.version) {
            return Ok(None);
        }
        // The files the new version keeps unchanged, by their path in the version.
        let unchanged = unchanged_files(previous, &manifest);
        let version_dir = catalog.join(&manifest.version_dir);
        let mut files = files_under(&version_dir)?;
        let rejects = catalog.join("rejects");
        if rejects.is_dir() {
            files.extend(files_under(&rejects)?);
        }
        futures::stream::iter(files)
            .map(|file| {
                let relative = key_under(&catalog, &file);
                let target = self.at(&relative);
                let inside = relative
                    .strip_prefix(&format!("{}/", manifest.version_dir))
                    .unwrap_or_default()
                    .to_string();
                let copied_from = previous
                    .filter(|_| unchanged.contains(&inside))
                    .map(|p| self.at(&format!("{}/{inside}", p.version_dir)));
                let store = Arc::clone(&self.store);
                async move {
                    match copied_from {
                        Some(from) => store
                            .copy(&from, &target)
                            .await
                            .map_err(|e| anyhow::anyhow!("cannot copy {from} to {target}: {e}")),
                        None => put_streamed(&store, &file, &target).await,
                    }
                }
            })
            .buffer_unordered(CONCURRENT)
            .try_collect::<Vec<()>>()
            .await
            .with_context(|| format!("cannot put version {} at {url}", manifest.version))?;
        let mode = match self.previous.as_ref() {
            None => PutMode::Create,
            Some((_, etag)) => PutMode::Update(UpdateVersion {
                e_tag: etag.clone(),
                version: None,
            }),
        };
        let text = serde_json::to_vec_pretty(&manifest)?;
        match self
            .store
            .put_opts(&self.at(MANIFEST_FILE), text.into(), PutOptions::from(mode))
            .await
        {
            Ok(_) => {}
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => bail!(
                "{url}: another writer published a version while this ingest ran (was its lock removed?); this ingest's version was not published: run it again"
            ),
            Err(e) => bail!(
                "cannot put {url}/{MANIFEST_FILE}: {e}; the catalogue keeps its previous version"
            ),
        }
        // The previous version stays for readers on it; older ones go.
        if let Err(e) = self.delete_all(self.superseded.clone()).await {
            eprintln!("skyql: version {} is published; {e:#}", manifest.version);
        }
        Ok(Some(manifest.version))
    }

    /// Removes the lock (after a publish, or a failed ingest that published nothing).
    pub async fn release(&self) {
        if let Err(e) = self.store.delete(&self.at(LOCK_NAME)).await {
            eprintln!(
                "skyql: cannot remove {}/{LOCK_NAME} ({e}): remove it by hand once no writer runs",
                self.url
            );
        }
    }
}

/// The data files of `next` that `previous` has with the same size and CRC-32, by their
/// path inside the version (`stars/field=lm055/part-000002.parquet`).
fn unchanged_files(previous: Option<&Manifest>, next: &Manifest) -> HashSet<String> {
    let Some(previous) = previous else {
        return HashSet::new();
    };
    let inside = |path: &str, file: &str| {
        if file.is_empty() {
            path.to_string()
        } else {
            format!("{path}/{file}")
        }
    };
    let mut old = HashMap::new();
    for entry in previous.tables.values() {
        for f in &entry.data_files {
            old.insert(inside(&entry.path, &f.path), (f.bytes, f.crc32));
        }
    }
    let mut out = HashSet::new();
    for entry in next.tables.values() {
        for f in &entry.data_files {
            let path = inside(&entry.path, &f.path);
            if old.get(&path) == Some(&(f.bytes, f.crc32)) {
                out.insert(path);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_not_gone_and_a_dead_one_is() {
        let me = Holder::this_process();
        assert!(me.pid > 0 && !me.host.is_empty());
        assert!(!me.is_gone(), "a running process holds its lock");
        let dead = Holder {
            process_start: me.process_start + 1,
            ..me.clone()
        };
        assert!(dead.is_gone(), "another start time is another process");
        let elsewhere = Holder {
            host: format!("{}-other", me.host),
            process_start: 0,
            ..me
        };
        assert!(
            !elsewhere.is_gone(),
            "a lock of another machine is never taken over"
        );
    }
}
