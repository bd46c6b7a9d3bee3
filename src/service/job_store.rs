//! The UWS jobs on disk, so that they survive a restart: one record per job
//! (`job-ID.json` in the jobs directory) beside its result (`job-ID.EXT`), each written
//! with the catalogue's durable-write rules (a temporary name, fsync, rename, fsync of the
//! directory).
//!
//! At start the records are read back and checked: a job that was EXECUTING when the
//! service stopped or crashed becomes ERROR with a message saying so (its query is not
//! run again: a query can be long, and a client that still wants it submits it again); a
//! COMPLETED job whose result file is missing or has another size becomes ERROR too;
//! jobs past their destruction time are removed; a record that cannot be read is reported
//! and left in place for the administrator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::upload::UploadedTable;
use crate::catalog::durable::{atomic_write, sync_dir};
use crate::export::OutputFormat;

/// The phases of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Phase {
    /// Created, not started.
    Pending,
    /// Running.
    Executing,
    /// Ended with a result.
    Completed,
    /// Ended with an error.
    Error,
    /// Stopped by a client.
    Aborted,
}

impl Phase {
    /// The UWS name.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Pending => "PENDING",
            Phase::Executing => "EXECUTING",
            Phase::Completed => "COMPLETED",
            Phase::Error => "ERROR",
            Phase::Aborted => "ABORTED",
        }
    }

    /// Whether the job may still change phase by itself.
    pub fn is_active(self) -> bool {
        matches!(self, Phase::Pending | Phase::Executing)
    }
}

/// A job's result file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// Its name in the jobs directory.
    pub file: String,
    /// Its format (`OutputFormat::name`).
    pub format: String,
    /// Rows written.
    pub rows: u64,
    /// Bytes of the file when it was written.
    pub bytes: u64,
}

impl JobResult {
    /// The format.
    pub fn output_format(&self) -> OutputFormat {
        OutputFormat::from_name(&self.format).unwrap_or(OutputFormat::Votable)
    }
}

/// What is kept of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Phase.
    pub phase: Phase,
    /// Parameters (names upper-case), in order.
    pub params: BTreeMap<String, String>,
    /// The owner, when the request was authenticated.
    pub owner: Option<String>,
    /// Whether the owner is a user the OpenID Connect provider named (not the users
    /// file's user of that name).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub owner_from_provider: bool,
    /// The client's IP address, which the per-client job limit counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Times in milliseconds since 1970 (UTC).
    pub created_ms: u64,
    /// When it started executing.
    pub started_ms: Option<u64>,
    /// When it ended.
    pub ended_ms: Option<u64>,
    /// Execution duration in seconds.
    pub execution_duration: u64,
    /// Destruction time, milliseconds since 1970.
    pub destruction_ms: u64,
    /// The error message of an ERROR job.
    pub error: Option<String>,
    /// The result of a COMPLETED job.
    pub result: Option<JobResult>,
    /// The names of the tables uploaded with the job (`TAP_UPLOAD.name`), each kept in
    /// the jobs directory until the job is removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<String>,
}

/// Milliseconds since 1970 of a time.
pub fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The time of milliseconds since 1970.
pub fn time_of(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The record's file name of job `id`.
fn record_name(id: &str) -> String {
    format!("job-{id}.json")
}

/// Whether `id` is one the service could have made (hex digits): anything else in a URL
/// is no job, and never becomes part of a file name.
pub fn is_job_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 40 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Writes the record of job `id` durably.
pub fn save(dir: &Path, id: &str, record: &JobRecord) -> Result<()> {
    let text = serde_json::to_vec_pretty(record)?;
    atomic_write(&dir.join(record_name(id)), &text).with_context(|| format!("cannot keep job {id}"))
}

/// The file of job `id`'s uploaded table `table` (Arrow IPC).
fn upload_name(id: &str, table: &str) -> String {
    format!("job-{id}.upload-{table}.arrow")
}

/// Keeps the table uploaded with job `id` durably, until the job is removed.
pub fn save_upload(dir: &Path, id: &str, table: &UploadedTable) -> Result<()> {
    use datafusion::arrow::ipc::writer::FileWriter;
    let mut bytes = Vec::new();
    let mut writer = FileWriter::try_new(&mut bytes, &table.batch.schema())?;
    writer.write(&table.batch)?;
    writer.finish()?;
    drop(writer);
    atomic_write(&dir.join(upload_name(id, &table.name)), &bytes)
        .with_context(|| format!("cannot keep the upload {} of job {id}", table.name))
}

/// The tables uploaded with job `id`.
pub fn load_uploads(dir: &Path, id: &str, record: &JobRecord) -> Result<Vec<UploadedTable>> {
    use datafusion::arrow::ipc::reader::FileReader;
    record
        .uploads
        .iter()
        .map(|name| {
            let path = dir.join(upload_name(id, name));
            let file = std::fs::File::open(&path)
                .with_context(|| format!("the upload {name} of job {id} is no longer kept"))?;
            let reader = FileReader::try_new(file, None)?;
            let schema = reader.schema();
            let batches = reader.collect::<Result<Vec<_>, _>>()?;
            Ok(UploadedTable {
                name: name.clone(),
                batch: datafusion::arrow::compute::concat_batches(&schema, &batches)?,
            })
        })
        .collect()
}

/// Removes job `id`'s record, result and uploaded tables.
pub fn remove(dir: &Path, id: &str, record: &JobRecord) -> Result<()> {
    if let Some(r) = &record.result {
        remove_if_present(&dir.join(&r.file))?;
    }
    for name in &record.uploads {
        remove_if_present(&dir.join(upload_name(id, name)))?;
    }
    remove_if_present(&dir.join(record_name(id)))?;
    sync_dir(dir)
}

fn remove_if_present(path: &PathBuf) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// The jobs of `dir` after a restart, checked; and a line for each record that could not
/// be read.
pub fn load(dir: &Path, now: SystemTime) -> (BTreeMap<String, JobRecord>, Vec<String>) {
    let mut jobs = BTreeMap::new();
    let mut problems = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (jobs, problems);
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(id) = name
            .strip_prefix("job-")
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        if !is_job_id(id) {
            continue;
        }
        let record = std::fs::read(entry.path())
            .map_err(anyhow::Error::from)
            .and_then(|b| serde_json::from_slice::<JobRecord>(&b).map_err(Into::into));
        let mut record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!(
                    "job record {name} cannot be read ({e}); left in place"
                ));
                continue;
            }
        };
        if time_of(record.destruction_ms) <= now {
            if let Err(e) = remove(dir, id, &record) {
                problems.push(format!("{e:#}"));
            }
            continue;
        }
        let changed = check(dir, &mut record, now);
        if changed && let Err(e) = save(dir, id, &record) {
            problems.push(format!("{e:#}"));
        }
        jobs.insert(id.to_string(), record);
    }
    (jobs, problems)
}

/// Makes an EXECUTING job an ERROR: the service stopped (or crashed) while it ran.
pub fn stopped(record: &mut JobRecord, now: SystemTime) {
    record.phase = Phase::Error;
    record.error = Some(STOPPED.to_string());
    record.ended_ms = Some(millis(now));
}

/// The error of a job the service stopped while it ran.
const STOPPED: &str =
    "the service stopped while this job was executing; its query was not finished: submit it again";

/// Turns a job that cannot go on as it was into an ERROR; whether it changed.
fn check(dir: &Path, record: &mut JobRecord, now: SystemTime) -> bool {
    let error = match record.phase {
        Phase::Executing => Some(STOPPED.to_string()),
        Phase::Completed => match &record.result {
            None => Some("the job's result was lost".to_string()),
            Some(r) => {
                let size = std::fs::metadata(dir.join(&r.file)).map(|m| m.len()).ok();
                (size != Some(r.bytes)).then(|| {
                    "the job's result file is missing or damaged since the service wrote it"
                        .to_string()
                })
            }
        },
        _ => None,
    };
    match error {
        Some(message) => {
            record.phase = Phase::Error;
            record.error = Some(message);
            record.ended_ms.get_or_insert(millis(now));
            if let Some(r) = record.result.take() {
                let _ = std::fs::remove_file(dir.join(r.file));
            }
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(phase: Phase, destruction: SystemTime) -> JobRecord {
        JobRecord {
            phase,
            params: BTreeMap::from([("QUERY".into(), "SELECT 1".into())]),
            owner: None,
            owner_from_provider: false,
            client: None,
            created_ms: millis(SystemTime::now()),
            started_ms: None,
            ended_ms: None,
            execution_duration: 60,
            destruction_ms: millis(destruction),
            error: None,
            result: None,
            uploads: Vec::new(),
        }
    }

    #[test]
    fn jobs_come_back_checked() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let later = SystemTime::now() + Duration::from_secs(3600);
        let mut done = record(Phase::Completed, later);
        std::fs::write(d.join("job-aa.vot"), "<VOTABLE/>").unwrap();
        done.result = Some(JobResult {
            file: "job-aa.vot".into(),
            format: "votable".into(),
            rows: 0,
            bytes: 10,
        });
        save(d, "aa", &done).unwrap();
        save(d, "bb", &record(Phase::Executing, later)).unwrap();
        let mut lost = record(Phase::Completed, later);
        lost.result = Some(JobResult {
            file: "job-cc.vot".into(),
            format: "votable".into(),
            rows: 0,
            bytes: 10,
        });
        save(d, "cc", &lost).unwrap();
        save(d, "dd", &record(Phase::Pending, SystemTime::now())).unwrap();
        std::fs::write(d.join("job-ee.json"), "{ not json").unwrap();

        let (jobs, problems) = load(d, SystemTime::now());
        assert_eq!(jobs["aa"], done);
        assert_eq!(jobs["bb"].phase, Phase::Error);
        assert!(jobs["bb"].error.as_ref().unwrap().contains("stopped"));
        assert_eq!(jobs["cc"].phase, Phase::Error);
        assert!(!jobs.contains_key("dd"), "past its destruction time");
        assert!(!d.join("job-dd.json").exists());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            d.join("job-ee.json").exists(),
            "an unreadable record is left"
        );
        // The change is durable: read again, the same.
        let (again, _) = load(d, SystemTime::now());
        assert_eq!(again["bb"], jobs["bb"]);
    }
}
