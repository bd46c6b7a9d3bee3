//! Each query's share of the service's memory. The service has one memory pool for all its
//! queries (`memory_mb`, shared across catalogue versions: a query still running on an old
//! version counts against the same total as the new ones); every query gets a pool of its
//! own in front of it that refuses to grow past `query_memory_mb`, so one query cannot
//! take the memory every other query needs. What a query holds is given back when its
//! plan is dropped, which an abort at its time limit does ([`super::query_runtime`]); the
//! service's total is what the hostile-request test reads, through `/tap/availability`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// One query's pool: its own limit, then the service's pool.
#[derive(Debug)]
pub struct QueryMemoryPool {
    service: Arc<dyn MemoryPool>,
    limit: usize,
    reserved: AtomicUsize,
    peak: AtomicUsize,
}

impl QueryMemoryPool {
    /// A pool of at most `limit` bytes taken from `service`.
    pub fn new(service: Arc<dyn MemoryPool>, limit: usize) -> Self {
        QueryMemoryPool {
            service,
            limit,
            reserved: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// The most this query held at once, in bytes.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn added(&self, now: usize) {
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
}

impl std::fmt::Display for QueryMemoryPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "query pool: {} of {} bytes held (peak {})",
            self.reserved(),
            self.limit,
            self.peak()
        )
    }
}

impl MemoryPool for QueryMemoryPool {
    fn name(&self) -> &str {
        "query"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.service.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.service.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.service.grow(reservation, additional);
        let now = self.reserved.fetch_add(additional, Ordering::Relaxed) + additional;
        self.added(now);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.service.shrink(reservation, shrink);
        self.reserved.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let before = self
            .reserved
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(additional).filter(|n| *n <= self.limit)
            })
            .map_err(|held| {
                DataFusionError::ResourcesExhausted(format!(
                    "{} asked for {additional} more bytes while the query held {held}, more than the {} MiB one query may hold",
                    reservation.consumer().name(),
                    self.limit >> 20
                ))
            })?;
        if let Err(e) = self.service.try_grow(reservation, additional) {
            self.reserved.fetch_sub(additional, Ordering::Relaxed);
            return Err(e);
        }
        self.added(before + additional);
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.reserved.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    #[test]
    fn a_query_stops_at_its_share_and_gives_everything_back() {
        let service: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1000));
        let a: Arc<dyn MemoryPool> = Arc::new(QueryMemoryPool::new(service.clone(), 600));
        let b: Arc<dyn MemoryPool> = Arc::new(QueryMemoryPool::new(service.clone(), 600));
        let ra = MemoryConsumer::new("sort").register(&a);
        ra.try_grow(500).unwrap();
        let err = ra.try_grow(200).unwrap_err().to_string();
        assert!(err.contains("one query may hold"), "{err}");
        assert_eq!((a.reserved(), service.reserved()), (500, 500));
        // The other query gets the rest of the service's pool, no more.
        let rb = MemoryConsumer::new("join").register(&b);
        rb.try_grow(500).unwrap();
        assert!(rb.try_grow(100).is_err());
        assert_eq!((b.reserved(), service.reserved()), (500, 1000));
        drop(ra);
        assert_eq!((a.reserved(), service.reserved()), (0, 500));
        rb.try_grow(100).unwrap();
        drop(rb);
        assert_eq!(service.reserved(), 0);
    }
}
