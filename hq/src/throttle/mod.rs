//! Guessing limits: failed logins, enrolment codes and `/metrics` tokens counted per key (an
//! address, an account) in a sliding window; once a key has failed `limit` times in the
//! window, further attempts are refused (HTTP 429 with `Retry-After`) until the oldest
//! failure leaves it.
//!
//! Kept in memory by a SQLite headquarters' process: a restart forgets the counts (a guesser
//! gains one window per restart an operator makes). On PostgreSQL, logins and enrolment
//! codes are counted in the database ([`fairpos_postgres::throttle`]), by every process
//! together and across restarts; `/metrics` tokens, which each process's own listener
//! takes, stay in its memory. Behind a load balancer the address is the balancer's unless
//! `hq serve --proxy-protocol` names it (`server::proxy`): then it is the client's, from
//! the balancer's PROXY header.
//!
//! `attempt.rs` is what the HTTP handlers hold (an attempt begun, then settled), and
//! `shared.rs` what a process remembers of the database's counts.

mod attempt;
mod shared;
#[cfg(test)]
mod tests;

pub use attempt::{Attempt, Refused};

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fairpos_postgres::throttle::KeyLimit;
use shared::Shared;

use crate::quiet_log::QuietLog;

/// One kind of attempt: how many failures a key may have in how long.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub failures: usize,
    pub window: Duration,
}

/// The window every headquarters limit counts failures in.
const TEN_MINUTES: Duration = Duration::from_secs(600);
/// The longest window of any limit: keys idle longer than this hold nothing.
const LONGEST_WINDOW: Duration = TEN_MINUTES;
/// Beyond this many keys, the idle ones are swept out.
const SWEEP_AT: usize = 10_000;

/// Attempts per key, oldest first; and on PostgreSQL, the database where logins and
/// enrolment codes are counted instead.
#[derive(Default)]
pub struct Throttle {
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
    shared: Option<Shared>,
    /// The lines of refused attempts, one a minute for each kind and address: a client
    /// hammering a locked door would otherwise write a line per request. Made at the first
    /// refusal, on the server's runtime, whose task tells what was held back.
    refusals: std::sync::OnceLock<Arc<QuietLog>>,
}

/// Drops the attempts of `seen` older than `window`.
fn prune(seen: &mut VecDeque<Instant>, window: Duration, now: Instant) {
    while seen
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        seen.pop_front();
    }
}

impl Throttle {
    /// The log of refused attempts.
    fn refusals(&self) -> &QuietLog {
        self.refusals
            .get_or_init(QuietLog::told_when_due_if_running)
    }

    /// A throttle that counts logins and enrolment codes in `pool`'s database, with every
    /// other process of the headquarters.
    pub fn shared_in(pool: fairpos_postgres::Pool) -> Throttle {
        Throttle {
            shared: Some(Shared {
                pool,
                refused: Mutex::default(),
            }),
            ..Throttle::default()
        }
    }

    /// On PostgreSQL, sweeps old attempts out of the database every minute, on a task of the
    /// current runtime (not on a login's way).
    pub fn keep_swept(throttle: Arc<Throttle>) {
        tokio::spawn(async move {
            if let Some(shared) = &throttle.shared {
                shared.keep_swept().await;
            }
        });
    }

    /// Begins an attempt: refused with the time to wait when any key has had its limit of
    /// failures in its window; otherwise counted against every key at once, as a failure
    /// until [`Throttle::undo`] takes it back. Checking and counting under one lock, a burst
    /// of parallel guesses cannot all pass the check before the first is counted.
    pub fn begin(&self, keys: &[(&str, Limit)], now: Instant) -> Result<(), Duration> {
        let mut all = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() > SWEEP_AT {
            all.retain(|_, seen| {
                seen.back()
                    .is_some_and(|t| now.duration_since(*t) < LONGEST_WINDOW)
            });
        }
        let mut wait = None;
        for (key, limit) in keys {
            if let Some(seen) = all.get_mut(*key) {
                prune(seen, limit.window, now);
                if seen.len() >= limit.failures {
                    let oldest = seen[seen.len() - limit.failures];
                    let w = (limit.window - now.duration_since(oldest)).max(Duration::from_secs(1));
                    wait = wait.max(Some(w));
                }
            }
        }
        if let Some(w) = wait {
            return Err(w);
        }
        for (key, limit) in keys {
            let seen = all.entry((*key).to_string()).or_default();
            seen.push_back(now);
            while seen.len() > limit.failures {
                seen.pop_front();
            }
        }
        Ok(())
    }

    /// Takes back the attempt begun at `at` from `key` (it succeeded, or failed for a reason
    /// other than a wrong guess).
    pub fn undo(&self, key: &str, at: Instant) {
        let mut all = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(seen) = all.get_mut(key) {
            if let Some(i) = seen.iter().rposition(|t| *t == at) {
                seen.remove(i);
            }
            if seen.is_empty() {
                all.remove(key);
            }
        }
    }

    /// Forgets all of `key`'s attempts (the key whose failures a success forgets).
    pub fn forget(&self, key: &str) {
        let mut all = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        all.remove(key);
    }
}

/// Logins to one account from one address: 5 failures in 10 minutes. Someone who mistypes
/// their own password locks out only themselves from where they are, not everyone behind
/// the venue's one NAT address.
pub const LOGIN_PER_ADDRESS_AND_ACCOUNT: Limit = Limit::in_ten_minutes(5);
/// Logins from one address to any accounts: 30 failures in 10 minutes (a guesser trying
/// many accounts; a venue of stall leads behind one address mistyping now and then).
pub const LOGIN_PER_ADDRESS: Limit = Limit::in_ten_minutes(30);
/// Logins to one account from anywhere: 20 failures in 10 minutes.
pub const LOGIN_PER_ACCOUNT: Limit = Limit::in_ten_minutes(20);
/// Logins to one account from a browser that logged in to it before
/// ([`crate::known_browser`]): 5 failures in 10 minutes, counted apart from the address's
/// and the account's, so that a guesser behind the venue's address locks no lead out.
pub const LOGIN_FROM_A_KNOWN_BROWSER: Limit = Limit::in_ten_minutes(5);
/// Enrolment codes from one address: 10 failures in 10 minutes.
pub const ENROL_PER_ADDRESS: Limit = Limit::in_ten_minutes(10);

/// Scrapes of `/metrics` with a wrong token from one address: 20 in 10 minutes (a
/// Prometheus sent the wrong token, every 15 s, is refused for the rest of the window once
/// it has made 20).
pub const SCRAPE_PER_ADDRESS: Limit = Limit::in_ten_minutes(20);

/// The address as a guesser holds it: an IPv4 address, or an IPv6 address's /64 (one host
/// is usually given a whole /64 to pick from).
pub(crate) fn address_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = a.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl Limit {
    /// `failures` in the last ten minutes.
    const fn in_ten_minutes(failures: usize) -> Limit {
        Limit {
            failures,
            window: TEN_MINUTES,
        }
    }

    /// The limit as the database counts it.
    fn in_database(self) -> KeyLimit {
        KeyLimit {
            failures: self.failures as u32,
            window_seconds: self.window.as_secs() as u32,
        }
    }
}
