//! When the touchscreen's sync thread passes: at its interval after a pass that went
//! through; after one that failed, once the longer of its backoff and what headquarters
//! asked for (`Retry-After`) is out; and sooner when a sale asks, but never inside the wait
//! a failure set. A sale asking during a failing headquarters' wait was a pass at once, each
//! sale one: thousands of stalls back from an outage passed once a sale each.

use std::time::{Duration, Instant};

use crate::uplink::wait_after_failure;

/// The first pass after the till starts.
const FIRST_PASS: Duration = Duration::from_secs(2);
/// The wait after a first failure; it doubles with each failure after it, up to [`LONGEST`].
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const LONGEST: Duration = Duration::from_secs(120);

pub struct SyncPace {
    interval: Duration,
    /// The wait after the next failure.
    backoff: Duration,
    /// When the next pass is due, asked for or not.
    due: Instant,
    /// No pass before this, asked for or not: the wait a failure set.
    held_until: Instant,
}

impl SyncPace {
    pub fn new(interval: Duration, now: Instant) -> SyncPace {
        SyncPace {
            interval,
            backoff: FIRST_BACKOFF,
            due: now + FIRST_PASS,
            held_until: now,
        }
    }

    /// How long, from `now`, until the next pass is due.
    pub fn wait(&self, now: Instant) -> Duration {
        self.due.saturating_duration_since(now)
    }

    /// Whether a pass asked for at `now` (a sale, a shift closed) runs now; if not, it runs
    /// when the failure's wait is out.
    pub fn may_pass_now(&self, now: Instant) -> bool {
        now >= self.held_until
    }

    /// A pass that went through, ended at `now`.
    pub fn passed(&mut self, now: Instant) {
        self.backoff = FIRST_BACKOFF;
        self.due = now + self.interval;
        self.held_until = now;
    }

    /// A pass that failed at `now`, headquarters having asked for `asked`; returns the wait.
    pub fn failed(&mut self, now: Instant, asked: Option<Duration>) -> Duration {
        let (wait, _) = wait_after_failure(self.backoff, asked);
        self.backoff = (self.backoff * 2).min(LONGEST);
        self.due = now + wait;
        self.held_until = self.due;
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_failure_holds_every_pass_asked_for_until_its_wait_is_out() {
        let t0 = Instant::now();
        let mut pace = SyncPace::new(S(30), t0);
        assert_eq!(pace.wait(t0), S(2));
        assert!(pace.may_pass_now(t0), "a sale before the first pass");
        // Headquarters answers 503 asking for 30 s: sales in between pass nothing.
        assert_eq!(pace.failed(t0, Some(S(30))), S(30));
        for after in [1, 10, 29] {
            assert!(!pace.may_pass_now(t0 + S(after)), "{after} s");
        }
        assert!(pace.may_pass_now(t0 + S(30)));
        assert_eq!(pace.wait(t0 + S(10)), S(20));
        // Failures without an ask back off 10, 20 … 120 s (the first one's 5 s was spent).
        let waits: Vec<u64> = (0..6).map(|_| pace.failed(t0, None).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 120, 120]);
        // One that goes through: the interval, and a sale passes at once again.
        pace.passed(t0);
        assert_eq!(pace.wait(t0), S(30));
        assert!(pace.may_pass_now(t0 + S(1)));
        assert_eq!(
            pace.failed(t0, Some(S(1))),
            S(5),
            "the backoff, longer than asked"
        );
    }
}
