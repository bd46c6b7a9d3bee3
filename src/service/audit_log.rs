//! The audit log (`audit_log` in the configuration): one JSON line per request, with
//! who made it (user, address), what it asked (method, path, a SHA-256 of the query's
//! SQL when it ran one: the query itself may be someone's unpublished idea), and what it
//! got (status, rows, bytes, milliseconds). Never a credential. The file is opened for
//! appending, readable by its owner only; beyond `audit_log_mb` it is renamed `FILE.1`
//! (replacing the one before) and begun again.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::Serialize;

/// One request, as the audit log keeps it.
#[derive(Debug, Serialize)]
pub struct AuditEntry<'a> {
    /// When it ended (UTC, ISO 8601).
    pub time: String,
    /// The signed-in user; null when anonymous.
    pub user: Option<&'a str>,
    /// The client's address.
    pub address: String,
    /// The HTTP method.
    pub method: &'a str,
    /// The path (without the query string, which may hold the query's text).
    pub path: &'a str,
    /// SHA-256 of the SQL the request ran, when it ran one.
    pub query_sha256: Option<&'a str>,
    /// The HTTP status.
    pub status: u16,
    /// Rows sent, when a query answered.
    pub rows: Option<u64>,
    /// Bytes of the body, when known before it was sent.
    pub bytes: Option<u64>,
    /// Milliseconds until the answer began.
    pub ms: f64,
}

/// The open log.
pub struct AuditLog {
    path: PathBuf,
    limit: u64,
    file: Mutex<File>,
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open the audit log {}", path.display()))
}

impl AuditLog {
    /// Opens (or creates) the log at `path`, rotated beyond `mb` MiB.
    pub fn open(path: &Path, mb: u64) -> Result<AuditLog> {
        Ok(AuditLog {
            file: Mutex::new(open(path)?),
            path: path.to_path_buf(),
            limit: mb.max(1) << 20,
        })
    }

    /// Appends one line; a failure is said on standard error (the request was answered).
    pub fn record(&self, entry: &AuditEntry) {
        let Ok(mut line) = serde_json::to_vec(entry) else {
            return;
        };
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if file
            .metadata()
            .is_ok_and(|m| m.len() + line.len() as u64 > self.limit)
        {
            let rotated = self.path.with_file_name(format!(
                "{}.1",
                self.path.file_name().unwrap_or_default().to_string_lossy()
            ));
            match std::fs::rename(&self.path, &rotated).and_then(|()| {
                open(&self.path).map_err(|e| std::io::Error::other(format!("{e:#}")))
            }) {
                Ok(f) => *file = f,
                Err(e) => eprintln!("skyql serve: cannot rotate the audit log: {e}"),
            }
        }
        if let Err(e) = file.write_all(&line) {
            eprintln!("skyql serve: cannot write the audit log: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_and_the_log_is_rotated_past_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path, 1).unwrap();
        let entry = AuditEntry {
            time: "2026-12-07T00:00:00Z".into(),
            user: Some("alice"),
            address: "127.0.0.1".into(),
            method: "GET",
            path: "/tap/sync",
            query_sha256: Some("ab"),
            status: 200,
            rows: Some(3),
            bytes: None,
            ms: 1.5,
        };
        for _ in 0..12_000 {
            log.record(&entry);
        }
        let rotated = dir.path().join("audit.jsonl.1");
        assert!(rotated.exists());
        let size = std::fs::metadata(&rotated).unwrap().len();
        assert!(size <= 1 << 20 && size > (1 << 20) - 200, "{size}");
        let text = std::fs::read_to_string(&path).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["user"], "alice");
        assert_eq!(first["rows"], 3);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
