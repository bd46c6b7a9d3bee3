//! The service's limits and places, from `--config FILE` (TOML), with defaults sized for a
//! small data-centre machine. Every limit is advertised in `/tap/capabilities`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::object_stores::s3_settings::S3Settings;

/// The service configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Rows a query returns when it gives no MAXREC.
    pub default_maxrec: u64,
    /// Rows a query can return at most, whatever its MAXREC.
    pub hard_maxrec: u64,
    /// Seconds a synchronous query may run before it is cancelled.
    pub sync_timeout_s: u64,
    /// Default and largest execution duration of an asynchronous job, in seconds.
    pub async_timeout_s: u64,
    /// Seconds an asynchronous job and its result are kept (its destruction time).
    pub retention_s: u64,
    /// Memory for query execution, shared by the running queries (of every catalogue
    /// version), in MiB: queries spill, or fail cleanly, beyond it.
    pub memory_mb: u64,
    /// Memory one query may hold, in MiB (default: a quarter of `memory_mb`), so that no
    /// query takes what the others need.
    pub query_memory_mb: Option<u64>,
    /// Queries running at once; more wait in the queue.
    pub max_concurrent_queries: usize,
    /// Requests that may wait for a running slot; beyond, HTTP 503 with Retry-After.
    pub queue_depth: usize,
    /// Seconds a request may wait in the queue before it gets HTTP 503 with Retry-After.
    pub queue_wait_s: u64,
    /// Asynchronous jobs kept at once (any phase).
    pub max_async_jobs: usize,
    /// Asynchronous jobs one client (one IP address) may keep at once, so that nobody
    /// fills the service's slots alone. Behind a reverse proxy every client has the
    /// proxy's address: set it to `max_async_jobs` there.
    pub max_async_jobs_per_client: usize,
    /// Largest request body, in bytes.
    pub max_request_bytes: usize,
    /// The service's own directory: asynchronous jobs and their results (kept across
    /// restarts), and the part of a large synchronous result beyond 1 MiB while it is
    /// sent. It must be new, empty or an earlier skyql service's. Default: a directory of
    /// this process's own under the system's temporary one, removed at the stop (jobs
    /// then do not survive a restart).
    pub jobs_dir: Option<PathBuf>,
    /// The base URL clients see, when a reverse proxy stands in front (default: the
    /// address bound).
    pub public_url: Option<String>,
    /// SODA cutouts kept in the service's directory to be served again, in MiB; beyond,
    /// the least recently served are removed.
    pub soda_cache_mb: u64,
    /// The IVOA authority of the service's publisher DIDs (`ivo://AUTHORITY/SURVEY?id`,
    /// in ObsCore and accepted as DataLink and SODA IDs): the data centre's registered
    /// authority. The default, `skyql.invalid`, is a name that resolves nowhere.
    pub authority: String,
    /// The release's public images, as `sql/public_images.sql` writes them under an
    /// output root (`public/<field>/<file name>`): an image's DataLink links offer its
    /// public image when this directory holds it. Default: `products/public` in the
    /// catalogue directory (the image functions' default output root).
    pub public_images_dir: Option<PathBuf>,
    /// Bytes the uploaded tables of one request (TAP_UPLOAD) may hold together.
    pub upload_max_bytes: usize,
    /// Rows one uploaded table may hold.
    pub upload_max_rows: u64,
    /// Hosts (`host` or `host:port`) an upload may be fetched from by URL
    /// (`UPLOAD=name,http://host/path`). None by default: the service then fetches nothing
    /// a client names.
    pub upload_url_hosts: Vec<String>,
    /// Tables published beside the catalogue (`[[tables]]`: `name`, `path`,
    /// `description`); read again on SIGHUP (docs/PUBLISH.md).
    pub tables: Vec<super::table_sources::TableEntry>,
    /// S3 settings (`[s3]`: `endpoint`, `region`, `access_key_id`,
    /// `secret_access_key_file`, `session_token_file`, `allow_http`), over the `AWS_*`
    /// environment; read at the start (docs/PUBLISH.md).
    pub s3: S3Settings,
    /// The users and API tokens (`skyql users` writes it; relative to this file): HTTP
    /// Basic and bearer tokens are accepted when it is set (docs/ACCESS.md).
    pub users_file: Option<PathBuf>,
    /// Whether requests without credentials are answered (with the rows no rule hides
    /// from everyone); with `false`, only signed-in users are (401 for the others).
    pub anonymous: bool,
    /// Addresses of the reverse proxies in front of the service: a request from one of
    /// them is taken to come from the last address of its `X-Forwarded-For` (for the
    /// failed sign-in counts, the per-caller limits, the job list and the audit log).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Requests one caller (a user, or an address without credentials) may make per
    /// minute; beyond, HTTP 429 with Retry-After. 0: no limit.
    pub requests_per_minute: u32,
    /// Queries one caller may run at once (sync, async and cone searches); beyond, HTTP
    /// 429 with Retry-After (asynchronous jobs wait instead). 0: no limit.
    pub queries_per_caller: usize,
    /// The audit log: one JSON line per request (time, user, address, method, path,
    /// query hash, rows, bytes, status); none when absent (relative to this file).
    pub audit_log: Option<PathBuf>,
    /// Size of the audit log, in MiB, beyond which it is renamed `FILE.1` (replacing the
    /// one before) and begun again.
    pub audit_log_mb: u64,
    /// Bearer tokens of an OpenID Connect provider (`[jwt]`), checked against its keys.
    pub jwt: Option<JwtConfig>,
    /// Hours a sign-in cookie of `/login` lasts.
    pub session_hours: u64,
}

/// The `[jwt]` section: the provider whose JSON Web Tokens are accepted as bearer tokens
/// (docs/ACCESS.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The provider's public keys, a JWKS file (relative to the configuration file; read
    /// again when it changes); or give `jwks_url`.
    #[serde(default)]
    pub jwks: Option<PathBuf>,
    /// The provider's public keys at its `jwks_uri` (https; http on loopback only),
    /// fetched at the start, every `jwks_refresh_s`, and when a token names a key id the
    /// service does not have (at most every 5 s).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Seconds between two fetches of `jwks_url` (at least 60).
    #[serde(default = "default_jwks_refresh_s")]
    pub jwks_refresh_s: u64,
    /// The provider's issuer name (`iss`).
    pub issuer: String,
    /// This service's name in the tokens (`aud`).
    pub audience: String,
    /// The claim naming the user (`sub` when the token lacks it).
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The claim listing the user's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
}

fn default_jwks_refresh_s() -> u64 {
    3_600
}

fn default_user_claim() -> String {
    "preferred_username".into()
}

fn default_groups_claim() -> String {
    "groups".into()
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            default_maxrec: 100_000,
            hard_maxrec: 10_000_000,
            sync_timeout_s: 60,
            async_timeout_s: 3_600,
            retention_s: 7 * 24 * 3_600,
            memory_mb: 2_048,
            query_memory_mb: None,
            max_concurrent_queries: 16,
            queue_depth: 1_024,
            queue_wait_s: 30,
            max_async_jobs: 100,
            max_async_jobs_per_client: 10,
            max_request_bytes: 1 << 20,
            jobs_dir: None,
            public_url: None,
            soda_cache_mb: 512,
            authority: "skyql.invalid".into(),
            public_images_dir: None,
            tables: Vec::new(),
            upload_max_bytes: 16 << 20,
            upload_max_rows: 1_000_000,
            upload_url_hosts: Vec::new(),
            s3: S3Settings::default(),
            users_file: None,
            anonymous: true,
            trusted_proxies: Vec::new(),
            requests_per_minute: 0,
            queries_per_caller: 0,
            audit_log: None,
            audit_log_mb: 100,
            jwt: None,
            session_hours: 12,
        }
    }
}

impl ServiceConfig {
    /// Reads a TOML configuration file (every key optional); the files it names in `[s3]`
    /// are relative to its directory.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut config: ServiceConfig =
            crate::toml_text::parse(&text, path, "service configuration")?;
        let base = path.parent().unwrap_or(Path::new(""));
        for file in [
            &mut config.s3.secret_access_key_file,
            &mut config.s3.session_token_file,
            &mut config.users_file,
            &mut config.audit_log,
        ]
        .into_iter()
        .flatten()
        .chain(config.jwt.as_mut().and_then(|j| j.jwks.as_mut()))
        {
            *file = base.join(&*file);
        }
        Ok(config)
    }

    /// Bytes one query may hold: `query_memory_mb`, a quarter of `memory_mb` by default,
    /// never more than `memory_mb`.
    pub fn query_memory_bytes(&self) -> usize {
        let mb = self
            .query_memory_mb
            .unwrap_or(self.memory_mb / 4)
            .clamp(1, self.memory_mb.max(1));
        mb as usize * (1 << 20)
    }

    /// The publisher DID of local id `id` in the published schema `schema`, without the
    /// id: `ivo://AUTHORITY/SCHEMA?`.
    pub fn did_prefix(&self, schema: &str) -> String {
        format!("ivo://{}/{schema}?", self.authority)
    }

    /// The jobs directory, and whether it is the process's own temporary one.
    pub fn jobs_dir(&self) -> (PathBuf, bool) {
        match &self.jobs_dir {
            Some(d) => (d.clone(), false),
            None => (
                std::env::temp_dir().join(format!("skyql-service-{}", std::process::id())),
                true,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_configuration_is_one_the_service_reads() {
        let doc = include_str!("../../docs/SERVICE.md");
        let start = doc
            .find("```toml\n")
            .expect("docs/SERVICE.md has a TOML example")
            + 8;
        let text = &doc[start..start + doc[start..].find("```").unwrap()];
        let config: ServiceConfig = toml::from_str(text).unwrap();
        assert_eq!(config.tables.len(), 1);
        assert_eq!(config.s3.region.as_deref(), Some("eu-west-3"));
        assert!(config.s3.secret_access_key_file.is_some());
    }

    #[test]
    fn a_configuration_error_names_the_line_but_never_quotes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.toml");
        std::fs::write(
            &path,
            "memory_mb = 512\n[s3]\nsecret_access_key = \"hunter2-secret\"\n",
        )
        .unwrap();
        let error = format!("{:#}", ServiceConfig::from_file(&path).unwrap_err());
        assert!(error.contains("line 3"), "{error}");
        assert!(error.contains("secret_access_key"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn secret_files_are_taken_from_the_configuration_files_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.toml");
        std::fs::write(
            &path,
            "[s3]\naccess_key_id = \"K\"\nsecret_access_key_file = \"s3-secret\"\nsession_token_file = \"/run/t\"\n",
        )
        .unwrap();
        let config = ServiceConfig::from_file(&path).unwrap();
        assert_eq!(
            config.s3.secret_access_key_file.unwrap(),
            dir.path().join("s3-secret")
        );
        assert_eq!(config.s3.session_token_file.unwrap(), Path::new("/run/t"));
    }
}
