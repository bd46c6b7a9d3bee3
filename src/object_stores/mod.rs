//! Tables and catalogues that live on object stores: `s3://BUCKET/PREFIX` (any
//! S3-compatible store) and `http://` or `https://` URLs (read-only: a static web
//! server, as LSDB's public HATS catalogues are served).
//!
//! Every session the engine builds resolves URLs through [`SessionStores`]: the stores a
//! session registers itself (the catalogue's
//! [`crate::engine::manifest_store::ManifestStore`]), else the local file system, else a
//! remote store shared by the whole process, built on the first URL of its bucket or host
//! and kept (its connections are reused).
//!
//! An S3 store is configured from the usual environment variables (`AWS_ENDPOINT_URL`,
//! `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_ALLOW_HTTP` for a local endpoint), or from a configuration file's `[s3]`
//! ([`s3_settings`]), whose settings win; without a key it reads public buckets unsigned.
//! Its errors never carry the key or the secret ([`redacted`]).

pub mod redacted;
pub mod s3_settings;
pub mod scratch_dir;
pub mod transfer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::aws::AmazonS3ConfigKey;
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, RetryConfig};
use url::Url;

use redacted::RedactedStore;

/// The URL schemes of remote tables.
const REMOTE_SCHEMES: [&str; 3] = ["s3", "http", "https"];

/// The remote URL `path` names (`s3://...`, `http://...`, `https://...`), if it names one.
pub fn remote_url(path: &Path) -> Option<Url> {
    let text = path.to_str()?;
    let (scheme, _) = text.split_once("://")?;
    if !REMOTE_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
        return None;
    }
    Url::parse(text).ok().filter(|u| u.host_str().is_some())
}

/// Whether `path` names a remote URL (it is then not a path of the local file system).
pub fn is_remote(path: &Path) -> bool {
    remote_url(path).is_some()
}

/// The key of a store: scheme, host (the bucket, for S3) and port.
fn store_key(url: &Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{}{port}",
        url.scheme(),
        url.host_str().unwrap_or_default()
    )
}

/// The remote stores of the process, by [`store_key`].
static REMOTE: LazyLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The store of a remote URL, built on first use.
pub fn remote_store(url: &Url) -> Result<Arc<dyn ObjectStore>> {
    let key = store_key(url);
    let mut stores = REMOTE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(store) = stores.get(&key) {
        return Ok(Arc::clone(store));
    }
    let store = build_store(url)?;
    stores.insert(key, Arc::clone(&store));
    Ok(store)
}

/// Drops the process's S3 stores, so that the next use builds them with new settings.
fn forget_s3_stores() {
    let mut stores = REMOTE.lock().unwrap_or_else(|e| e.into_inner());
    stores.retain(|key, _| !key.starts_with("s3://"));
}

/// How long a remote request may take, and how often it is retried: a query on an
/// unreachable store fails in seconds, not minutes.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 2,
        retry_timeout: Duration::from_secs(20),
    }
}

/// How long a request and a connection may take, unless the environment says otherwise
/// (`AWS_TIMEOUT`, `AWS_CONNECT_TIMEOUT` for S3).
const TIMEOUTS: [(ClientConfigKey, &str); 2] = [
    (ClientConfigKey::Timeout, "60s"),
    (ClientConfigKey::ConnectTimeout, "10s"),
];

fn build_store(url: &Url) -> Result<Arc<dyn ObjectStore>> {
    let origin = store_key(url);
    match url.scheme() {
        "s3" => {
            let mut builder = s3_settings::builder()
                .with_bucket_name(url.host_str().unwrap_or_default())
                .with_retry(retry());
            let key = builder.get_config_value(&AmazonS3ConfigKey::AccessKeyId);
            let secret = builder.get_config_value(&AmazonS3ConfigKey::SecretAccessKey);
            let token = builder.get_config_value(&AmazonS3ConfigKey::Token);
            // Without a key, a public bucket, read unsigned (rather than asking an
            // instance-metadata endpoint that is not there).
            if key.is_none() {
                builder = builder.with_skip_signature(true);
            }
            for (key, value) in TIMEOUTS {
                let key = AmazonS3ConfigKey::Client(key);
                if builder.get_config_value(&key).is_none() {
                    builder = builder.with_config(key, value);
                }
            }
            let store = builder
                .build()
                .map_err(|e| anyhow::anyhow!("cannot open {origin}: {e}"))?;
            let secrets = [key, secret, token].into_iter().flatten().collect();
            Ok(Arc::new(RedactedStore::new(Arc::new(store), secrets)))
        }
        "http" | "https" => {
            let mut builder = HttpBuilder::new()
                .with_url(origin.clone())
                .with_retry(retry())
                .with_config(
                    ClientConfigKey::AllowHttp,
                    (url.scheme() == "http").to_string(),
                );
            for (key, value) in TIMEOUTS {
                builder = builder.with_config(key, value);
            }
            let store = builder
                .build()
                .with_context(|| format!("cannot open {origin}"))?;
            Ok(Arc::new(store))
        }
        other => bail!("{url}: the scheme {other} is not an object store skyql reads"),
    }
}

/// The object-store path of a remote URL.
pub fn store_path(url: &Url) -> Result<StorePath> {
    StorePath::from_url_path(url.path()).with_context(|| format!("bad path in {url}"))
}

/// The bytes of a small remote file and what the store says of it (size, ETag); `None`
/// when it does not exist.
pub async fn read_remote(url: &Url) -> Result<Option<(bytes::Bytes, object_store::ObjectMeta)>> {
    let store = remote_store(url)?;
    let path = store_path(url)?;
    match store.get(&path).await {
        Ok(got) => {
            let meta = got.meta.clone();
            let bytes = got
                .bytes()
                .await
                .with_context(|| format!("cannot read {url}"))?;
            Ok(Some((bytes, meta)))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read {url}: {e}")),
    }
}

/// The text of a small remote file; `None` when it does not exist.
pub async fn read_remote_text(url: &Url) -> Result<Option<String>> {
    let Some((bytes, _)) = read_remote(url).await? else {
        return Ok(None);
    };
    let text =
        String::from_utf8(bytes.to_vec()).with_context(|| format!("{url} is not UTF-8 text"))?;
    Ok(Some(text))
}

/// The URL of `relative` (`a/b.parquet`, `/`-separated) under the directory URL `base`.
pub fn join_url(base: &Url, relative: &str) -> Url {
    let mut path = base.path().trim_end_matches('/').to_string();
    for part in relative.split('/').filter(|p| !p.is_empty()) {
        path.push('/');
        path.push_str(part);
    }
    let mut url = base.clone();
    url.set_path(&path);
    url
}

/// `url` without a final `/` (`s3://b/p/` and `s3://b/p` name one directory).
pub fn without_final_slash(url: &Url) -> Url {
    join_url(url, "")
}

/// The store URL of a remote URL (`s3://bucket`, `https://host:port`), as sessions
/// register stores.
pub fn store_url(url: &Url) -> Result<Url> {
    Url::parse(&store_key(url)).with_context(|| format!("bad URL {url}"))
}

/// Runs `future` to its end from synchronous code: on the current runtime's threads when
/// there is a multi-threaded one (the CLI's and the service's), else on a runtime of its
/// own.
pub fn block_on<F: std::future::Future>(future: F) -> Result<F::Output> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            Ok(tokio::task::block_in_place(|| handle.block_on(future)))
        }
        Ok(_) => bail!("a remote catalogue is read from a multi-threaded runtime only"),
        Err(_) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("cannot start a runtime")?;
            Ok(runtime.block_on(future))
        }
    }
}

/// A session with DataFusion's defaults that reads remote URLs as the engine's sessions do.
pub fn plain_session() -> Result<datafusion::prelude::SessionContext> {
    let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(SessionStores::new()))
        .build_arc()?;
    Ok(datafusion::prelude::SessionContext::new_with_config_rt(
        datafusion::prelude::SessionConfig::new(),
        runtime,
    ))
}

/// The object stores of one session: what it registered, the local file system, and the
/// process's remote stores.
#[derive(Debug)]
pub struct SessionStores {
    registered: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl SessionStores {
    /// The local file system only, until a remote URL is read.
    pub fn new() -> SessionStores {
        let local: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
        let registered = HashMap::from([("file://".to_string(), local)]);
        SessionStores {
            registered: RwLock::new(registered),
        }
    }
}

impl Default for SessionStores {
    fn default() -> Self {
        Self::new()
    }
}

impl ObjectStoreRegistry for SessionStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        let mut registered = self.registered.write().unwrap_or_else(|e| e.into_inner());
        registered.insert(store_key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        let mut registered = self.registered.write().unwrap_or_else(|e| e.into_inner());
        registered.remove(&store_key(url)).ok_or_else(|| {
            DataFusionError::Execution(format!("no object store is registered for {url}"))
        })
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        let key = store_key(url);
        if let Some(store) = self
            .registered
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(Arc::clone(store));
        }
        if REMOTE_SCHEMES.contains(&url.scheme()) {
            return remote_store(url).map_err(|e| DataFusionError::External(e.into()));
        }
        Err(DataFusionError::Execution(format!(
            "no object store for {key}: skyql reads local files, s3:// and http(s):// URLs"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_are_told_from_paths() {
        for remote in [
            "s3://bucket/cat",
            "S3://bucket",
            "https://example.org/hats/gaia",
            "http://127.0.0.1:8080/x",
        ] {
            assert!(remote_url(Path::new(remote)).is_some(), "{remote}");
            assert!(is_remote(Path::new(remote)), "{remote}");
        }
        for local in [
            "/data/cat",
            "cat",
            "file:///data/cat",
            "s3:/bucket",
            "ftp://h/x",
        ] {
            assert!(remote_url(Path::new(local)).is_none(), "{local}");
            assert!(!is_remote(Path::new(local)), "{local}");
        }
    }

    #[test]
    fn stores_are_kept_per_bucket_and_host() {
        let a = Url::parse("s3://bucket/a/b.parquet").unwrap();
        let b = Url::parse("s3://bucket/c").unwrap();
        let c = Url::parse("http://127.0.0.1:9/x").unwrap();
        assert_eq!(store_key(&a), store_key(&b));
        assert_eq!(store_key(&c), "http://127.0.0.1:9");
        let stores = SessionStores::new();
        let first = stores.get_store(&c).unwrap();
        let again = stores
            .get_store(&Url::parse("http://127.0.0.1:9/y").unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(stores.get_store(&Url::parse("ftp://h/x").unwrap()).is_err());
    }
}
