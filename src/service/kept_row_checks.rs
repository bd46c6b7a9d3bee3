//! The row-rule checks a fixed plan built for a catalogue version, kept by the rules they
//! check ([`RowFilter::rules_key`]): callers under the same rules share one, and
//! planning the rules' condition is paid once per version and set of rules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::access::RowFilter;
use crate::access::row_filter::RowCheck;

/// Sets of rules whose checks are kept at most (others are built per request).
const KEPT: usize = 16;

/// Checks by the rules they check.
type Checks = HashMap<Vec<(u64, String)>, Option<Arc<RowCheck>>>;

/// The checks built so far.
#[derive(Default)]
pub struct KeptRowChecks {
    checks: Mutex<Checks>,
}

impl KeptRowChecks {
    /// The check of `rows` (`None`: no rule applies), kept or built by `build`; `build`'s
    /// error (the rules cannot be checked on these rows: the SQL plan answers) is not
    /// kept.
    pub fn get(
        &self,
        rows: &RowFilter,
        build: impl FnOnce() -> Result<Option<RowCheck>>,
    ) -> Result<Option<Arc<RowCheck>>> {
        if rows.is_empty() {
            return Ok(None);
        }
        let key = rows.rules_key();
        if let Some(check) = self.lock().get(&key).cloned() {
            return Ok(check);
        }
        let check = build()?.map(Arc::new);
        let mut checks = self.lock();
        if checks.len() < KEPT {
            checks.insert(key, check.clone());
        }
        Ok(check)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Checks> {
        self.checks.lock().unwrap_or_else(|e| e.into_inner())
    }
}
