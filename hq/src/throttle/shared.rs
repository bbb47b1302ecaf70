//! What a process of a PostgreSQL headquarters keeps of the attempts the database counts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{LONGEST_WINDOW, SWEEP_AT};

/// On PostgreSQL: the database attempts are counted in, and what this process remembers of
/// its answers.
pub(super) struct Shared {
    pub(super) pool: fairpos_postgres::Pool,
    /// Keys the database found at their limit, and until when: an attempt on any of them is
    /// refused here before, so that a flood of refused guesses (a guesser trying name after
    /// name from one address) takes no connection organizers need. (Another process's
    /// success does not shorten it here.)
    pub(super) refused: Mutex<HashMap<String, Instant>>,
}

/// How often a process sweeps old attempts out of the database.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl Shared {
    /// How long an attempt on `keys` is still refused, if the database found one of them at
    /// its limit lately.
    pub(super) fn refused_for(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        let until = keys.iter().filter_map(|k| refused.get(k)).max()?;
        (*until > now).then(|| *until - now)
    }

    /// Remembers that `key` is at its limit for `wait`.
    pub(super) fn remember_refused(&self, key: &str, wait: Duration, now: Instant) {
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if refused.len() > SWEEP_AT {
            refused.retain(|_, until| *until > now);
        }
        refused.insert(key.to_string(), now + wait);
    }

    /// Sweeps the attempts of keys no one tries again out of the database, every minute, for
    /// as long as the runtime runs.
    pub(super) async fn keep_swept(&self) {
        let longest = LONGEST_WINDOW.as_secs() as u32;
        let mut every = tokio::time::interval(SWEEP_EVERY);
        loop {
            every.tick().await;
            if let Err(e) = fairpos_postgres::throttle::sweep(&self.pool, longest).await {
                eprintln!("sweeping old attempts out of the database: {e}");
            }
        }
    }

    /// Takes back `ids` (an attempt's, on its `keys`), and every attempt on `forgotten`
    /// (the key whose failures a success forgets) when given. Each of `keys` may then be
    /// below its limit: what is remembered of them here is forgotten (the database is asked
    /// again).
    pub(super) async fn take_back(&self, keys: &[String], forgotten: Option<&str>, ids: &[i64]) {
        {
            let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            for key in keys {
                refused.remove(key);
            }
        }
        if let Err(e) = fairpos_postgres::throttle::take_back(&self.pool, forgotten, ids).await {
            eprintln!("taking back an attempt: {e}");
        }
    }
}
