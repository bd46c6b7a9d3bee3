//! The local file system as a catalogue's sessions see it: inside the catalogue's version
//! directory, only the files its manifest lists exist. DataFusion's listing tables list
//! directories, so a Parquet file dropped into a partition directory (or a whole
//! `field=...` directory) would otherwise be read by every query as if it were part of
//! the table. Here listings leave such names out, and reading one is refused as "not
//! found"; everything outside the version directory (the user's own `--table` files,
//! COPY outputs) is the plain local file system.
//!
//! Every read of a listed file is checked against its block checksums
//! ([`crate::catalog::block_checksums`]): a damaged file is an error naming it, never a
//! different answer.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use futures::stream::{BoxStream, StreamExt};
use url::Url;

use crate::catalog::Catalog;
use crate::catalog::block_checksums::BlockChecksums;

/// A listed data file: its size and block checksums.
#[derive(Debug, Clone)]
struct Listed {
    bytes: u64,
    sums: Option<BlockChecksums>,
}

/// The catalogue's store (the local file system, or the object store of a remote
/// catalogue) with a catalogue version's unlisted files hidden.
#[derive(Debug)]
pub struct ManifestStore {
    inner: Arc<dyn ObjectStore>,
    /// The local file system for a local catalogue (its files are read by path); none for
    /// a remote one, whose version is listed from the manifest.
    local: Option<Arc<LocalFileSystem>>,
    /// The version directory, as an object-store path (`tmp/cat/v000003`).
    version: String,
    /// Every data file of the version the manifest lists (block checksums only when reads
    /// are checked).
    files: Arc<HashMap<String, Listed>>,
    /// Every directory on the way to one of them.
    directories: HashSet<String>,
}

impl fmt::Display for ManifestStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManifestStore({})", self.version)
    }
}

/// The object-store path of the local directory `dir`, as the listing tables' URLs give
/// it (absolute, without the leading `/`).
fn object_path(dir: &std::path::Path) -> String {
    let text = format!("{}/", dir.to_string_lossy().trim_end_matches('/'));
    match ListingTableUrl::parse(&text) {
        Ok(url) => url.prefix().as_ref().trim_end_matches('/').to_string(),
        Err(_) => text.trim_matches('/').to_string(),
    }
}

impl ManifestStore {
    /// The store of `catalog`'s current version, whose reads are checked against the block
    /// checksums when `checked`, and the URL to register it at (the local file system, or
    /// the remote catalogue's bucket or host); none for a catalogue whose manifest does not
    /// list its files (written before the integrity checks).
    pub fn new(catalog: &Catalog, checked: bool) -> anyhow::Result<Option<(ManifestStore, Url)>> {
        let tables = catalog.manifest.tables.values();
        if tables
            .clone()
            .any(|t| t.data_files.is_empty() && t.files > 0)
        {
            if catalog.remote.is_some() {
                anyhow::bail!(
                    "{}: its manifest does not list its files (a catalogue written before skyql listed them); re-ingest it to put it on an object store",
                    catalog.dir.display()
                );
            }
            return Ok(None);
        }
        type Parts = (
            Option<Arc<LocalFileSystem>>,
            Arc<dyn ObjectStore>,
            String,
            Url,
        );
        let (local, inner, version, url): Parts = match &catalog.remote {
            Some(remote) => {
                let version = crate::object_stores::store_path(&remote.url)?
                    .join(catalog.manifest.version_dir.as_str());
                (
                    None,
                    crate::object_stores::remote_store(&remote.url)?,
                    version.as_ref().to_string(),
                    crate::object_stores::store_url(&remote.url)?,
                )
            }
            None => {
                let fs = Arc::new(LocalFileSystem::new());
                (
                    Some(Arc::clone(&fs)),
                    fs,
                    object_path(&catalog.version_dir()),
                    Url::parse("file://").expect("the local file system's URL"),
                )
            }
        };
        let mut files = HashMap::new();
        let mut directories = HashSet::new();
        for entry in tables {
            for file in &entry.data_files {
                let mut path = format!("{version}/{}", entry.path.trim_matches('/'));
                if !file.path.is_empty() {
                    path = format!("{path}/{}", file.path.trim_matches('/'));
                }
                let mut dir = path.as_str();
                while let Some((parent, _)) = dir.rsplit_once('/') {
                    if parent.len() < version.len() {
                        break;
                    }
                    directories.insert(parent.to_string());
                    dir = parent;
                }
                let listed = Listed {
                    bytes: file.bytes,
                    sums: file.block_checksums().filter(|_| checked),
                };
                files.insert(path, listed);
            }
        }
        let store = ManifestStore {
            inner,
            local,
            version,
            files: Arc::new(files),
            directories,
        };
        Ok(Some((store, url)))
    }

    /// Whether a file at `path` may be seen.
    fn visible_file(&self, path: &Path) -> bool {
        visible_file(&self.version, &self.files, path)
    }

    /// Whether a directory at `path` may be seen.
    fn visible_directory(&self, path: &Path) -> bool {
        let p = path.as_ref();
        !inside(&self.version, p) || p == self.version || self.directories.contains(p)
    }

    /// Answers a read of a listed file from [`ManifestStore::read_checked`].
    async fn checked_get(
        &self,
        location: &Path,
        options: GetOptions,
        sums: &BlockChecksums,
    ) -> Result<GetResult> {
        if let Some(answer) = self.cached_get(location, &options, sums)? {
            return Ok(answer);
        }
        let meta = self.inner.head(location).await?;
        options.check_preconditions(&meta)?;
        if meta.size != sums.len {
            return Err(damaged(
                &self.relative(location),
                format!(
                    "{} bytes where the manifest says {}: the file changed size",
                    meta.size, sums.len
                ),
            ));
        }
        let range = match &options.range {
            Some(r) => r
                .as_range(sums.len)
                .map_err(|e| damaged(&self.relative(location), e.to_string()))?,
            None => 0..sums.len,
        };
        let mut read = self
            .read_checked(location, sums, vec![range.clone()])
            .await?;
        let bytes = read.pop().unwrap_or_default();
        Ok(read_result(bytes, meta, range))
    }

    /// Reads `ranges` of a listed file, each block checked against `sums` as soon as it
    /// is read: a local file in one blocking task (while each block is in the processor's
    /// cache), a remote one as block-aligned ranges.
    async fn read_checked(
        &self,
        location: &Path,
        sums: &BlockChecksums,
        ranges: Vec<Range<u64>>,
    ) -> Result<Vec<Bytes>> {
        let relative = self.relative(location);
        let Some(local) = &self.local else {
            let aligned = ranges
                .iter()
                .map(|r| sums.aligned(r).map_err(|e| damaged(&relative, e)))
                .collect::<Result<Vec<_>>>()?;
            let read = self.inner.get_ranges(location, &aligned).await?;
            return read
                .into_iter()
                .zip(ranges)
                .map(|(data, r)| {
                    sums.check_aligned(data, r)
                        .map_err(|e| damaged(&relative, e))
                })
                .collect();
        };
        let path = local.path_to_filesystem(location)?;
        if read_bytes(&ranges) <= CACHED_READ_BYTES
            && let Some((_, read)) =
                read_cached(&path, sums, &ranges).map_err(|e| damaged(&relative, e))?
        {
            return Ok(read);
        }
        let sums = sums.clone();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path)
                .map_err(|e| damaged(&relative, format!("cannot open: {e}")))?;
            ranges
                .into_iter()
                .map(|r| sums.read(&file, r).map_err(|e| damaged(&relative, e)))
                .collect()
        })
        .await
        .map_err(|e| datafusion::object_store::Error::Generic {
            store: "catalogue",
            source: Box::new(e),
        })?
    }

    /// [`ManifestStore::checked_get`] answered on this thread from the page cache, for a
    /// local file asked without conditions: none when it cannot be (a byte not cached, a
    /// file that cannot be opened or changed size: the usual way then says why).
    fn cached_get(
        &self,
        location: &Path,
        options: &GetOptions,
        sums: &BlockChecksums,
    ) -> Result<Option<GetResult>> {
        let unconditional = options.if_match.is_none()
            && options.if_none_match.is_none()
            && options.if_modified_since.is_none()
            && options.if_unmodified_since.is_none()
            && options.version.is_none();
        let Some(local) = self.local.as_ref().filter(|_| unconditional) else {
            return Ok(None);
        };
        let Some(range) = options
            .range
            .as_ref()
            .and_then(|r| r.as_range(sums.len).ok())
        else {
            return Ok(None);
        };
        if read_bytes(std::slice::from_ref(&range)) > CACHED_READ_BYTES {
            return Ok(None);
        }
        let path = local.path_to_filesystem(location)?;
        let Some((metadata, mut read)) = read_cached(&path, sums, std::slice::from_ref(&range))
            .map_err(|e| damaged(&self.relative(location), e))?
        else {
            return Ok(None);
        };
        let bytes = read.pop().unwrap_or_default();
        Ok(Some(read_result(
            bytes,
            local_meta(location, &metadata),
            range,
        )))
    }

    /// The listed files under `prefix` (inside the version), as a listing gives them.
    fn listed_under(&self, prefix: &str) -> Vec<ObjectMeta> {
        let mut out: Vec<ObjectMeta> = self
            .files
            .iter()
            .filter(|(path, _)| inside(prefix, path) && path.as_str() != prefix)
            .map(|(path, listed)| ObjectMeta {
                location: Path::from(path.as_str()),
                last_modified: chrono::DateTime::UNIX_EPOCH,
                size: listed.bytes,
                e_tag: None,
                version: None,
            })
            .collect();
        out.sort_by(|a, b| a.location.cmp(&b.location));
        out
    }

    /// A location as errors show it: relative to the catalogue (`v000003/stars/...`).
    fn relative(&self, location: &Path) -> String {
        let parent = self.version.rsplit_once('/').map_or("", |(p, _)| p);
        let p = location.as_ref();
        p.strip_prefix(parent)
            .map_or(p, |rest| rest.trim_start_matches('/'))
            .to_string()
    }

    fn not_found(path: &Path) -> datafusion::object_store::Error {
        datafusion::object_store::Error::NotFound {
            path: path.to_string(),
            source: "not a file of the catalogue's manifest".into(),
        }
    }
}

/// The most bytes one request reads on the calling thread from the page cache; larger
/// reads go to a blocking thread, where their copy overlaps the decoding of others.
const CACHED_READ_BYTES: u64 = 1 << 20;

/// The bytes `ranges` ask for (each range is read as the whole 64 KiB blocks that hold
/// it: up to two blocks more per range are read and checked). Limiting what is read
/// instead (the blocks) sent a cone's reads of many small pages back to the blocking
/// thread and took its time from 3.0 to 4.0 ms (docs/BENCHMARKS.md).
fn read_bytes(ranges: &[Range<u64>]) -> u64 {
    ranges
        .iter()
        .map(|r| r.end.saturating_sub(r.start))
        .fold(0u64, u64::saturating_add)
}

/// `ranges` of the local file at `path`, checked against `sums`, with the file's metadata,
/// if every byte is in the page cache ([`BlockChecksums::read_cached`]); none when one
/// is not, or when the file cannot be opened or has another size than the manifest's
/// (the blocking read then says why). A block that does not match is an error, its reason.
fn read_cached(
    path: &std::path::Path,
    sums: &BlockChecksums,
    ranges: &[Range<u64>],
) -> std::result::Result<Option<(std::fs::Metadata, Vec<Bytes>)>, String> {
    if !crate::catalog::page_cache_read::available() {
        return Ok(None);
    }
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(None);
    };
    let Ok(metadata) = file.metadata() else {
        return Ok(None);
    };
    if !metadata.is_file() || metadata.len() != sums.len {
        return Ok(None);
    }
    let read: Option<Vec<Bytes>> = ranges
        .iter()
        .map(|range| sums.read_cached(&file, range.clone()))
        .collect::<std::result::Result<_, String>>()?;
    Ok(read.map(|read| (metadata, read)))
}

/// The answer to a read: `bytes`, the `range` of the file described by `meta`.
fn read_result(bytes: Bytes, meta: ObjectMeta, range: Range<u64>) -> GetResult {
    GetResult {
        payload: GetResultPayload::Stream(futures::stream::once(async move { Ok(bytes) }).boxed()),
        meta,
        range,
        attributes: Default::default(),
    }
}

/// A local file's object metadata, as the local file system's store gives it (its ETag
/// from the inode, the modification time and the size).
fn local_meta(location: &Path, metadata: &std::fs::Metadata) -> ObjectMeta {
    use std::os::unix::fs::MetadataExt;
    let modified = metadata.modified().unwrap_or(std::time::UNIX_EPOCH);
    let micros = modified
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    ObjectMeta {
        location: location.clone(),
        last_modified: modified.into(),
        size: metadata.len(),
        e_tag: Some(format!(
            "{:x}-{micros:x}-{:x}",
            metadata.ino(),
            metadata.len()
        )),
        version: None,
    }
}

/// The error of a read that does not match the manifest; `relative` names the file.
fn damaged(relative: &str, reason: String) -> datafusion::object_store::Error {
    datafusion::object_store::Error::Generic {
        store: "catalogue",
        source: format!("{relative}: {reason}").into(),
    }
}

/// Whether `path` lies in the directory `version` (or is it).
fn inside(version: &str, path: &str) -> bool {
    path.strip_prefix(version)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether a file at `path` may be seen: outside the version, or listed in it.
fn visible_file(version: &str, files: &HashMap<String, Listed>, path: &Path) -> bool {
    let p = path.as_ref();
    !inside(version, p) || files.contains_key(p)
}

#[async_trait]
impl ObjectStore for ManifestStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if !self.visible_file(location) {
            return Err(Self::not_found(location));
        }
        match self.files.get(location.as_ref()) {
            Some(Listed {
                sums: Some(sums), ..
            }) if !options.head => self.checked_get(location, options, sums).await,
            _ => self.inner.get_opts(location, options).await,
        }
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        if !self.visible_file(location) {
            return Err(Self::not_found(location));
        }
        match self.files.get(location.as_ref()) {
            Some(Listed {
                sums: Some(sums), ..
            }) => self.read_checked(location, sums, ranges.to_vec()).await,
            _ => self.inner.get_ranges(location, ranges).await,
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        // A remote version is listed from the manifest: no request, and a missing file
        // is an error when it is read rather than a table with fewer rows.
        let asked = prefix.map(|p| p.as_ref().to_string()).unwrap_or_default();
        if self.local.is_none() && inside(&self.version, &asked) {
            return futures::stream::iter(self.listed_under(&asked).into_iter().map(Ok)).boxed();
        }
        let (version, files) = (self.version.clone(), self.files.clone());
        self.inner
            .list(prefix)
            .filter(move |m| {
                let keep = m
                    .as_ref()
                    .map_or(true, |meta| visible_file(&version, &files, &meta.location));
                futures::future::ready(keep)
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let asked = prefix.map(|p| p.as_ref().to_string()).unwrap_or_default();
        if self.local.is_none() && inside(&self.version, &asked) {
            let child = |p: &str| {
                p.strip_prefix(asked.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
            };
            let objects = (self.listed_under(&asked).into_iter())
                .filter(|m| child(m.location.as_ref()))
                .collect();
            let mut common_prefixes: Vec<Path> = (self.directories.iter())
                .filter(|d| child(d))
                .map(|d| Path::from(d.as_str()))
                .collect();
            common_prefixes.sort();
            return Ok(ListResult {
                common_prefixes,
                objects,
            });
        }
        let mut listed = self.inner.list_with_delimiter(prefix).await?;
        listed.objects.retain(|m| self.visible_file(&m.location));
        listed.common_prefixes.retain(|p| self.visible_directory(p));
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::manifest::{DataFile, Manifest, TableEntry};

    #[test]
    fn only_the_manifests_files_are_visible_in_the_version() {
        let mut tables = std::collections::BTreeMap::new();
        tables.insert(
            "stars".to_string(),
            TableEntry {
                path: "stars".into(),
                rows: 1,
                files: 1,
                partition_columns: vec!["field".into()],
                data_files: vec![DataFile {
                    path: "field=lm035/part-000001.parquet".into(),
                    bytes: 1,
                    rows: 1,
                    crc32: 0,
                    block_crc32: String::new(),
                    column_ranges: Default::default(),
                    modified_ns: None,
                    legacy_healpix_range: None,
                }],
            },
        );
        let catalog = Catalog {
            dir: "/data/cat".into(),
            manifest: Manifest {
                format: "skyql-catalog".into(),
                schema_version: 2,
                writer: String::new(),
                survey: "eros2".into(),
                version: 3,
                version_dir: "v000003".into(),
                tables,
                input_files: 0,
                input_bytes: 0,
                runs: Vec::new(),
            },
            remote: None,
        };
        let (store, _) = ManifestStore::new(&catalog, true).unwrap().unwrap();
        let file = |p: &str| store.visible_file(&Path::from(p));
        let dir = |p: &str| store.visible_directory(&Path::from(p));
        assert!(file(
            "data/cat/v000003/stars/field=lm035/part-000001.parquet"
        ));
        assert!(!file("data/cat/v000003/stars/field=lm035/dropped.parquet"));
        assert!(!file(
            "data/cat/v000003/stars/field=evil/part-000001.parquet"
        ));
        assert!(
            file("data/cat/v0000030/anything.parquet"),
            "another directory"
        );
        assert!(file("home/user/targets.csv"));
        assert!(dir("data/cat/v000003/stars"));
        assert!(dir("data/cat/v000003/stars/field=lm035"));
        assert!(!dir("data/cat/v000003/stars/field=evil"));
    }
}
