//! The service's limits and places, from `--config FILE` (TOML), with defaults sized for a
//! small data-centre machine. Every limit is advertised in `/tap/capabilities`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

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
    /// Memory for query execution, shared by the running queries, in MiB (queries spill,
    /// or fail cleanly, beyond it).
    pub memory_mb: u64,
    /// Queries running at once; more get HTTP 503 with Retry-After.
    pub max_concurrent_queries: usize,
    /// Asynchronous jobs kept at once (any phase).
    pub max_async_jobs: usize,
    /// Largest request body, in bytes.
    pub max_request_bytes: usize,
    /// Where results are written before they are sent, and asynchronous results kept
    /// [default: `service-jobs/` in the system's temporary directory].
    pub jobs_dir: Option<PathBuf>,
    /// The base URL clients see, when a reverse proxy stands in front (default: the
    /// address bound).
    pub public_url: Option<String>,
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
            max_concurrent_queries: 16,
            max_async_jobs: 100,
            max_request_bytes: 1 << 20,
            jobs_dir: None,
            public_url: None,
        }
    }
}

impl ServiceConfig {
    /// Reads a TOML configuration file (every key optional).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("invalid service configuration {}", path.display()))
    }

    /// The directory of results.
    pub fn jobs_dir(&self) -> PathBuf {
        self.jobs_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("skyql-service-{}", std::process::id()))
        })
    }
}
