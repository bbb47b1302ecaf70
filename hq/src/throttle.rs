//! Guessing limits: failed logins and enrolment codes counted per key (an address, an
//! account) in a sliding window; once a key has failed `limit` times in the window, further
//! attempts are refused (HTTP 429 with `Retry-After`) until the oldest failure leaves it.
//!
//! Kept in memory by each server process: a restart forgets the counts (a guesser gains one
//! window per restart an operator makes). Behind a load balancer the address is the
//! balancer's unless it passes the connection through.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// One kind of attempt: how many failures a key may have in how long.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub failures: usize,
    pub window: Duration,
}

/// Failures per key, oldest first.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    /// How long to wait before `key` may try again under `limit`; `None` when it may now.
    pub fn wait(&self, key: &str, limit: Limit, now: Instant) -> Option<Duration> {
        let mut all = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let seen = all.get_mut(key)?;
        while seen
            .front()
            .is_some_and(|t| now.duration_since(*t) >= limit.window)
        {
            seen.pop_front();
        }
        if seen.is_empty() {
            all.remove(key);
            return None;
        }
        (seen.len() >= limit.failures).then(|| {
            let oldest = seen[seen.len() - limit.failures];
            (limit.window - now.duration_since(oldest)).max(Duration::from_secs(1))
        })
    }

    /// The first wait any of `keys` must make.
    pub fn wait_any(&self, keys: &[(&str, Limit)], now: Instant) -> Option<Duration> {
        keys.iter().filter_map(|(k, l)| self.wait(k, *l, now)).max()
    }

    /// Counts a failure against each of `keys`.
    pub fn failed(&self, keys: &[&str], now: Instant) {
        let mut all = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            let seen = all.entry((*key).to_string()).or_default();
            seen.push_back(now);
            // A key never holds more than a window's worth of what it needs.
            while seen.len() > 1_000 {
                seen.pop_front();
            }
        }
    }

    /// Forgets `key`'s failures (a success from that address).
    pub fn forget(&self, key: &str) {
        let mut all = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        all.remove(key);
    }
}

/// Logins from one address: 5 failures in 10 minutes.
pub const LOGIN_PER_ADDRESS: Limit = Limit {
    failures: 5,
    window: Duration::from_secs(600),
};
/// Logins to one account from anywhere: 20 failures in 10 minutes.
pub const LOGIN_PER_ACCOUNT: Limit = Limit {
    failures: 20,
    window: Duration::from_secs(600),
};
/// Enrolment codes from one address: 10 failures in 10 minutes.
pub const ENROL_PER_ADDRESS: Limit = Limit {
    failures: 10,
    window: Duration::from_secs(600),
};

/// One request's attempt under the limits of its keys, for the HTTP handlers.
pub struct Attempt<'t> {
    throttle: &'t Throttle,
    what: &'static str,
    address: String,
    keys: Vec<(String, Limit)>,
}

impl<'t> Attempt<'t> {
    /// A login (dashboard form or API) from `address` to the organizer account.
    pub fn login(throttle: &'t Throttle, address: IpAddr) -> Attempt<'t> {
        Attempt {
            throttle,
            what: "login",
            address: address.to_string(),
            keys: vec![
                (format!("login@{address}"), LOGIN_PER_ADDRESS),
                ("login:organizer".to_string(), LOGIN_PER_ACCOUNT),
            ],
        }
    }

    /// An enrolment code tried from `address`.
    pub fn enrolment(throttle: &'t Throttle, address: IpAddr) -> Attempt<'t> {
        Attempt {
            throttle,
            what: "enrolment",
            address: address.to_string(),
            keys: vec![(format!("enrol@{address}"), ENROL_PER_ADDRESS)],
        }
    }

    /// `429 Too Many Requests` with `Retry-After` while a key must wait; logged.
    pub fn refused(&self) -> Option<Response> {
        let keys: Vec<(&str, Limit)> = self.keys.iter().map(|(k, l)| (k.as_str(), *l)).collect();
        let wait = self.throttle.wait_any(&keys, Instant::now())?;
        let seconds = wait.as_secs().max(1);
        eprintln!(
            "{} from {} refused: too many failures, {seconds} s to wait",
            self.what, self.address
        );
        Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, seconds.to_string())],
                Json(serde_json::json!({
                    "error": format!("too many failed attempts: try again in {seconds} s")
                })),
            )
                .into_response(),
        )
    }

    pub fn failed(&self) {
        let keys: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        self.throttle.failed(&keys, Instant::now());
    }

    /// A success forgets the address's failures (not the account's).
    pub fn succeeded(&self) {
        if let Some((key, _)) = self.keys.first() {
            self.throttle.forget(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE: Limit = Limit {
        failures: 3,
        window: Duration::from_secs(60),
    };

    #[test]
    fn a_key_waits_after_its_limit_until_the_oldest_failure_leaves_the_window() {
        let t = Throttle::default();
        let start = Instant::now();
        for i in 0..3 {
            assert_eq!(t.wait("a", THREE, start), None, "try {i}");
            t.failed(&["a"], start + Duration::from_secs(i * 10));
        }
        let now = start + Duration::from_secs(25);
        assert_eq!(t.wait("a", THREE, now), Some(Duration::from_secs(35)));
        assert_eq!(t.wait("b", THREE, now), None, "other keys are free");
        assert_eq!(t.wait("a", THREE, start + Duration::from_secs(60)), None);
        t.forget("a");
        assert_eq!(t.wait("a", THREE, now), None);
    }

    #[test]
    fn the_longest_wait_of_several_keys_counts() {
        let t = Throttle::default();
        let now = Instant::now();
        t.failed(&["addr", "account"], now);
        let one = Limit {
            failures: 1,
            window: Duration::from_secs(100),
        };
        let got = t.wait_any(&[("addr", THREE), ("account", one)], now);
        assert_eq!(got, Some(Duration::from_secs(100)));
    }
}
