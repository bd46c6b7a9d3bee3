//! What a cluster node says on standard error: Ballista's own `info` messages (executors
//! registering and removed, jobs submitted with their stages, tasks received and
//! finished) and skyql's, each line with the time and the part that said it. Ballista
//! logs through the `log` facade and leaves the logger to the program; this is skyql's,
//! kept to a few lines rather than a logging framework. `SKYQL_LOG=debug` says more,
//! `SKYQL_LOG=warn` less.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{LevelFilter, Log, Metadata, Record};

struct NodeLog {
    level: LevelFilter,
}

impl Log for NodeLog {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
            && (metadata.target().starts_with("ballista") || metadata.target().starts_with("skyql"))
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let seconds = since_epoch.as_secs() % 86_400;
        let _ = writeln!(
            std::io::stderr().lock(),
            "{:02}:{:02}:{:02}.{:03} {} {}: {}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
            since_epoch.subsec_millis(),
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}

/// Installs the node's logger (once; a second call does nothing).
pub fn init() {
    let level = match std::env::var("SKYQL_LOG").as_deref() {
        Ok("debug") => LevelFilter::Debug,
        Ok("warn") => LevelFilter::Warn,
        Ok("error") => LevelFilter::Error,
        Ok("off") => LevelFilter::Off,
        _ => LevelFilter::Info,
    };
    if log::set_boxed_logger(Box::new(NodeLog { level })).is_ok() {
        log::set_max_level(level);
    }
}
