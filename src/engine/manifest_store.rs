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

use crate::catalog::Catalog;
use crate::catalog::block_checksums::BlockChecksums;

/// The local file system with a catalogue version's unlisted files hidden.
#[derive(Debug)]
pub struct ManifestStore {
    inner: Arc<LocalFileSystem>,
    /// The version directory, as an object-store path (`tmp/cat/v000003`).
    version: String,
    /// Every data file of the version the manifest lists, with its block checksums.
    files: Arc<HashMap<String, Option<BlockChecksums>>>,
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
    /// checksums when `checked`; none for a catalogue whose manifest does not list its
    /// files (written before the integrity checks).
    pub fn new(catalog: &Catalog, checked: bool) -> Option<ManifestStore> {
        let tables = catalog.manifest.tables.values();
        if tables
            .clone()
            .any(|t| t.data_files.is_empty() && t.files > 0)
        {
            return None;
        }
        let version = object_path(&catalog.version_dir());
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
                files.insert(path, file.block_checksums().filter(|_| checked));
            }
        }
        Some(ManifestStore {
            inner: Arc::new(LocalFileSystem::new()),
            version,
            files: Arc::new(files),
            directories,
        })
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
        Ok(GetResult {
            payload: GetResultPayload::Stream(
                futures::stream::once(async move { Ok(bytes) }).boxed(),
            ),
            meta,
            range,
            attributes: Default::default(),
        })
    }

    /// Reads `ranges` of a listed file in one blocking task, each block checked against
    /// `sums` as soon as it is read (while it is in the processor's cache).
    async fn read_checked(
        &self,
        location: &Path,
        sums: &BlockChecksums,
        ranges: Vec<Range<u64>>,
    ) -> Result<Vec<Bytes>> {
        let path = self.inner.path_to_filesystem(location)?;
        let (sums, relative) = (sums.clone(), self.relative(location));
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
fn visible_file(
    version: &str,
    files: &HashMap<String, Option<BlockChecksums>>,
    path: &Path,
) -> bool {
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
            Some(Some(sums)) if !options.head => self.checked_get(location, options, sums).await,
            _ => self.inner.get_opts(location, options).await,
        }
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        if !self.visible_file(location) {
            return Err(Self::not_found(location));
        }
        match self.files.get(location.as_ref()) {
            Some(Some(sums)) => self.read_checked(location, sums, ranges.to_vec()).await,
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
        };
        let store = ManifestStore::new(&catalog, true).unwrap();
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
