//! The service's queries run on a tokio runtime of their own, apart from the HTTP front
//! and its timers: a query whose plan does not return to its runtime for a long time
//! (a nested-loop join looping inside one batch) can hold every thread of the query
//! runtime, but the front still answers, its time limits still fire, and the client gets
//! its error on time. The query is aborted at the limit; its threads are free again at the
//! plan's next yield (docs/SERVICE.md).

use std::future::Future;
use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::{AbortHandle, JoinError};

/// The runtime the queries run on; shut down without waiting when dropped (a thread
/// still inside a step that does not yield is left to the process's exit).
pub struct QueryRuntime {
    /// Where the work is spawned.
    handle: Handle,
    /// Owned only to be shut down in `drop`.
    runtime: Option<Runtime>,
}

/// How a query run under a time limit ended.
pub enum Outcome<T> {
    /// It finished with this value.
    Finished(T),
    /// It panicked or was cancelled.
    Failed(JoinError),
    /// The time limit passed first; it was aborted.
    TimedOut,
}

impl QueryRuntime {
    /// A multi-threaded runtime with one worker per core, threads named `skyql-query`.
    pub fn new() -> std::io::Result<Self> {
        let runtime = Builder::new_multi_thread()
            .thread_name("skyql-query")
            .enable_all()
            .build()?;
        Ok(QueryRuntime {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// Runs `work` on the query runtime and waits for it, from the caller's runtime, for
    /// at most `limit`; past the limit, or when the caller stops waiting (a client that
    /// went away), the work is aborted.
    pub async fn run<F>(&self, limit: Duration, work: F) -> Outcome<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut task = self.handle.spawn(work);
        let _abort_if_dropped = AbortOnDrop(task.abort_handle());
        match tokio::time::timeout(limit, &mut task).await {
            Ok(Ok(value)) => Outcome::Finished(value),
            Ok(Err(error)) => Outcome::Failed(error),
            Err(_) => Outcome::TimedOut,
        }
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Aborts the task when the waiting ends, however it ends (an abort of a finished task
/// does nothing).
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_step_that_never_yields_still_times_out() {
        let queries = QueryRuntime::new().unwrap();
        let started = std::time::Instant::now();
        // Busy for 3 s without an await: on the caller's runtime, with its one worker,
        // the timer could not fire before it ends.
        let outcome = queries
            .run(Duration::from_millis(200), async {
                let until = std::time::Instant::now() + Duration::from_secs(3);
                while std::time::Instant::now() < until {
                    std::hint::spin_loop();
                }
                1
            })
            .await;
        assert!(matches!(outcome, Outcome::TimedOut));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let fine = queries.run(Duration::from_secs(5), async { 2 }).await;
        assert!(matches!(fine, Outcome::Finished(2)));
    }
}
