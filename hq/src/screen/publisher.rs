//! When the big screen's figures are computed: while at least one screen follows them, when
//! the projection moves (at most twice a second) and every half minute regardless; while
//! none does, never. The figures read the whole projection (reports, the reconciliation of
//! every till, the leaderboard); computed for nobody during a 500-till storm, they took about
//! a third of PostgreSQL's CPU and a sixth of each `hq serve` process's.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::state::{Published, Watchers};

/// The shortest time between two computations, and how long after the last one the
/// figures are computed again anyway (for the tills' "last seen").
pub(crate) struct Pace {
    pub least: Duration,
    pub most: Duration,
}

/// Publishes what `figures` computes (the JSON an event carries) on `out` while a screen
/// watches, each time `projected` moves; a computation that fails is logged and skipped.
/// Waits at least as long as a computation took before the next, so a busy fair's screen
/// takes at most half a core. While no screen watches, nothing is computed and what was
/// published is withdrawn: a screen opened later is never sent figures from before it.
pub(crate) async fn run<F, Fut>(
    mut figures: F,
    watchers: &Watchers,
    mut projected: watch::Receiver<u64>,
    out: watch::Sender<Option<Arc<Published>>>,
    mut stopping: watch::Receiver<bool>,
    pace: Pace,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = crate::Result<String>>,
{
    let mut watching = watchers.count();
    loop {
        if *watching.borrow_and_update() == 0 {
            out.send_replace(None);
            tokio::select! {
                seen = watching.wait_for(|n| *n > 0) => if seen.is_err() { return },
                _ = stopping.wait_for(|s| *s) => return,
            }
            // What moved meanwhile is in the figures about to be computed.
            projected.borrow_and_update();
        }
        let started = tokio::time::Instant::now();
        match figures().await {
            Ok(json) => {
                out.send_if_modified(|current| {
                    let fresh = current.as_ref().is_none_or(|c| c.json != json);
                    if fresh {
                        *current = Some(Arc::new(Published { json }));
                    }
                    fresh
                });
            }
            Err(e) => eprintln!("screen figures: {e}"),
        }
        tokio::time::sleep(pace.least.max(started.elapsed())).await;
        tokio::select! {
            changed = projected.changed() => if changed.is_err() { return },
            _ = watching.wait_for(|n| *n == 0) => {}
            _ = tokio::time::sleep(pace.most) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The figures' JSON as published, `None` when withdrawn.
    fn published(out: &watch::Receiver<Option<Arc<Published>>>) -> Option<String> {
        out.borrow().as_ref().map(|p| p.json.clone())
    }

    /// Lets the publisher run until it waits again (time is paused: sleeps end at once).
    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn figures_are_computed_only_while_a_screen_watches_and_withdrawn_when_none_does() {
        let computed = Arc::new(AtomicUsize::new(0));
        let watchers = Arc::new(Watchers::default());
        let (projected_tx, projected) = watch::channel(0u64);
        let (out, seen) = watch::channel(None);
        let (stop, stopping) = watch::channel(false);
        let counting = computed.clone();
        let publisher = tokio::spawn({
            let watchers = watchers.clone();
            async move {
                let figures = || {
                    let n = counting.fetch_add(1, Ordering::SeqCst) + 1;
                    async move { Ok(format!("{{\"computed\":{n}}}")) }
                };
                let pace = Pace {
                    least: Duration::from_millis(500),
                    most: Duration::from_secs(30),
                };
                run(figures, &watchers, projected, out, stopping, pace).await
            }
        });

        // Nobody watches: the projection moves, nothing is computed, nothing published.
        for pass in 1..=5 {
            projected_tx.send_replace(pass);
            settle().await;
        }
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(computed.load(Ordering::SeqCst), 0);
        assert_eq!(published(&seen), None);

        // A screen opens: computed at once, and again when the projection moves.
        let screen = watchers.enter();
        settle().await;
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        assert_eq!(published(&seen).as_deref(), Some("{\"computed\":1}"));
        projected_tx.send_replace(6);
        tokio::time::sleep(Duration::from_secs(1)).await;
        settle().await;
        assert_eq!(computed.load(Ordering::SeqCst), 2);
        assert_eq!(published(&seen).as_deref(), Some("{\"computed\":2}"));

        // It closes: what was published is withdrawn, and passes compute nothing more.
        drop(screen);
        settle().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        settle().await;
        let after_close = computed.load(Ordering::SeqCst);
        assert_eq!(published(&seen), None);
        for pass in 7..=10 {
            projected_tx.send_replace(pass);
            tokio::time::sleep(Duration::from_secs(1)).await;
            settle().await;
        }
        assert_eq!(computed.load(Ordering::SeqCst), after_close);

        // Two screens, one closing: the other still gets figures.
        let first = watchers.enter();
        let second = watchers.enter();
        settle().await;
        drop(first);
        projected_tx.send_replace(11);
        tokio::time::sleep(Duration::from_secs(1)).await;
        settle().await;
        assert_eq!(computed.load(Ordering::SeqCst), after_close + 2);
        assert!(published(&seen).is_some());
        drop(second);

        stop.send_replace(true);
        publisher.await.unwrap();
    }
}
