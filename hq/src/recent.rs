//! A value read at most once per [`FRESH`]: what the big screen's page (`/screen`) is drawn
//! with. A page read the whole projection afresh (five reports, the reconciliation of every
//! till, the leaderboard), and a screen's link sits in the address bar of every television
//! at the venue: one reloaded in a loop kept the database's cores busy. A page opened within
//! [`FRESH`] of the last reading is drawn with it, and pages opened together wait for one
//! reading; the event stream then carries what the publisher computes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long a reading serves pages opened after it.
pub(crate) const FRESH: Duration = Duration::from_secs(2);

/// The last reading and when it was made.
pub struct Recent<T>(Mutex<Option<(Instant, Arc<T>)>>);

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Recent(Mutex::new(None))
    }
}

impl<T> Recent<T> {
    /// The last reading if it is fresh, else what `read` reads (kept when it succeeds).
    pub async fn get<F, Fut>(&self, read: F) -> crate::Result<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = crate::Result<T>>,
    {
        let mut held = self.0.lock().await;
        if let Some((at, figures)) = held.as_ref() {
            if at.elapsed() < FRESH {
                return Ok(figures.clone());
            }
        }
        let figures = Arc::new(read().await?);
        *held = Some((Instant::now(), figures.clone()));
        Ok(figures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn pages_opened_together_or_soon_after_take_one_reading() {
        let cache = Arc::new(Recent::<usize>::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let read = |reads: Arc<AtomicUsize>| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(reads.fetch_add(1, Ordering::SeqCst) + 1)
        };
        // Ten pages at once: one reading, every page drawn with it.
        let pages: Vec<_> = (0..10)
            .map(|_| {
                let (cache, reads) = (cache.clone(), reads.clone());
                tokio::spawn(async move { *cache.get(|| read(reads)).await.unwrap() })
            })
            .collect();
        for page in pages {
            assert_eq!(page.await.unwrap(), 1);
        }
        // Within two seconds: the same; after: read again.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(*cache.get(|| read(reads.clone())).await.unwrap(), 1);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(*cache.get(|| read(reads.clone())).await.unwrap(), 2);
        // A reading that fails is not kept: the next page reads again.
        tokio::time::sleep(FRESH).await;
        let failed = cache
            .get(|| async { Err(crate::Error::Other("the database is away".into())) })
            .await;
        assert!(failed.is_err());
        assert_eq!(*cache.get(|| read(reads.clone())).await.unwrap(), 3);
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }
}
