//! Numbered crash points for the fault-injection tests, as SQLite's crash tests do.
//!
//! Every step of a catalogue write that leaves something on disk (a file written, an
//! fsync, the version rename, the manifest switch, the cleanup) calls [`point`]. With
//! `SKYQL_CRASH_AT=N` in the environment the process aborts (no destructors, no flushes:
//! like a power cut after the step) at the N-th point it reaches; with
//! `SKYQL_CRASH_TRACE=1` it prints each point's number and label to standard error, so a
//! test can count them and crash at each in turn. Without either variable a point costs
//! one atomic increment. `SKYQL_TEST_PAUSE_AFTER_LOCK_MS=N` holds the writers' lock for
//! N milliseconds before writing, so that tests can race a second writer against it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

static REACHED: AtomicU64 = AtomicU64::new(0);

struct Settings {
    crash_at: Option<u64>,
    trace: bool,
}

fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| Settings {
        crash_at: std::env::var("SKYQL_CRASH_AT")
            .ok()
            .and_then(|v| v.parse().ok()),
        trace: std::env::var_os("SKYQL_CRASH_TRACE").is_some(),
    })
}

/// A crash point: aborts the process here when it is the one `SKYQL_CRASH_AT` names.
pub fn point(label: &str) {
    let n = REACHED.fetch_add(1, Ordering::SeqCst) + 1;
    let s = settings();
    if s.trace {
        eprintln!("crash point {n}: {label}");
    }
    if s.crash_at == Some(n) {
        eprintln!("crash point {n}: {label}: aborting (SKYQL_CRASH_AT)");
        std::process::abort();
    }
}

/// Sleeps for `SKYQL_TEST_PAUSE_AFTER_LOCK_MS` milliseconds, if set (tests of the lock).
pub fn pause_after_lock() {
    if let Some(ms) = std::env::var("SKYQL_TEST_PAUSE_AFTER_LOCK_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
