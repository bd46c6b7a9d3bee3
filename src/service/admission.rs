//! Admission of queries: at most `max_concurrent_queries` run at once; the next ones wait
//! in a first-come, first-served queue of at most `queue_depth` requests for at most
//! `queue_wait_s` seconds. Only a full queue, or a wait that runs out, is answered with
//! 503 and `Retry-After`, its message saying which.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::QueryError;

/// The running-query slots and their queue.
pub struct Admission {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    depth: usize,
    max_wait: Duration,
}

impl Admission {
    /// `slots` queries at once, `depth` waiting at most `max_wait`.
    pub fn new(slots: usize, depth: usize, max_wait: Duration) -> Admission {
        Admission {
            running: Arc::new(Semaphore::new(slots.max(1))),
            waiting: AtomicUsize::new(0),
            depth,
            max_wait,
        }
    }

    /// A running slot, at once or after a wait in the queue. The permit is held by the
    /// query's work until that work has stopped.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, QueryError> {
        if let Ok(permit) = Arc::clone(&self.running).try_acquire_owned() {
            return Ok(permit);
        }
        let place = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = LeaveQueue(&self.waiting);
        if place >= self.depth {
            return Err(QueryError::Busy(format!(
                "the service is at capacity: every query slot is busy and {} requests are already waiting (queue_depth); try again in a few seconds",
                self.depth
            )));
        }
        match tokio::time::timeout(self.max_wait, Arc::clone(&self.running).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(QueryError::Internal("the service is stopping".into())),
            Err(_) => Err(QueryError::Busy(format!(
                "no query slot became free within {} s (queue_wait_s); try again in a few seconds",
                self.max_wait.as_secs()
            ))),
        }
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

struct LeaveQueue<'a>(&'a AtomicUsize);

impl Drop for LeaveQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_wait_in_the_queue_until_it_is_full() {
        let admission = Arc::new(Admission::new(1, 2, Duration::from_secs(5)));
        let first = admission.admit().await.unwrap();
        let a = tokio::spawn({
            let adm = admission.clone();
            async move { adm.admit().await.map(|_| ()) }
        });
        let b = tokio::spawn({
            let adm = admission.clone();
            async move { adm.admit().await.map(|_| ()) }
        });
        while admission.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        // A third waiter finds the queue full.
        match admission.admit().await {
            Err(QueryError::Busy(m)) => assert!(m.contains("queue_depth"), "{m}"),
            other => panic!("expected a full queue, got {:?}", other.map(|_| ())),
        }
        drop(first);
        a.await.unwrap().unwrap();
        b.await.unwrap().unwrap();
        assert_eq!(admission.waiting(), 0);
    }

    #[tokio::test]
    async fn a_wait_that_runs_out_says_so() {
        let admission = Admission::new(1, 4, Duration::from_millis(50));
        let _held = admission.admit().await.unwrap();
        match admission.admit().await {
            Err(QueryError::Busy(m)) => assert!(m.contains("queue_wait_s"), "{m}"),
            other => panic!("expected a wait that ran out, got {:?}", other.map(|_| ())),
        }
    }
}
