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

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fairpos_postgres::throttle::KeyLimit;

/// One kind of attempt: how many failures a key may have in how long.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub failures: usize,
    pub window: Duration,
}

/// The longest window of any limit: keys idle longer than this hold nothing.
const LONGEST_WINDOW: Duration = Duration::from_secs(600);
/// Beyond this many keys, the idle ones are swept out.
const SWEEP_AT: usize = 10_000;

/// Attempts per key, oldest first; and on PostgreSQL, the database where logins and
/// enrolment codes are counted instead.
#[derive(Default)]
pub struct Throttle {
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
    shared: Option<Shared>,
}

/// On PostgreSQL: the database attempts are counted in, and what this process remembers of
/// its answers.
struct Shared {
    pool: fairpos_postgres::Pool,
    /// Keys the database found at their limit, and until when: an attempt on any of them is
    /// refused here before, so that a flood of refused guesses (a guesser trying name after
    /// name from one address) takes no connection organizers need. (Another process's
    /// success does not shorten it here.)
    refused: Mutex<HashMap<String, Instant>>,
}

/// How often a process sweeps old attempts out of the database.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl Shared {
    /// How long an attempt on `keys` is still refused, if the database found one of them at
    /// its limit lately.
    fn refused_for(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        let until = keys.iter().filter_map(|k| refused.get(k)).max()?;
        (*until > now).then(|| *until - now)
    }

    /// Remembers that `key` is at its limit for `wait`.
    fn remember_refused(&self, key: &str, wait: Duration, now: Instant) {
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if refused.len() > SWEEP_AT {
            refused.retain(|_, until| *until > now);
        }
        refused.insert(key.to_string(), now + wait);
    }

    /// Sweeps the attempts of keys no one tries again out of the database, every minute, for
    /// as long as the runtime runs.
    async fn keep_swept(&self) {
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
    async fn take_back(&self, keys: &[String], forgotten: Option<&str>, ids: &[i64]) {
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
pub const LOGIN_PER_ADDRESS_AND_ACCOUNT: Limit = Limit {
    failures: 5,
    window: Duration::from_secs(600),
};
/// Logins from one address to any accounts: 30 failures in 10 minutes (a guesser trying
/// many accounts; a venue of stall leads behind one address mistyping now and then).
pub const LOGIN_PER_ADDRESS: Limit = Limit {
    failures: 30,
    window: Duration::from_secs(600),
};
/// Logins to one account from anywhere: 20 failures in 10 minutes.
pub const LOGIN_PER_ACCOUNT: Limit = Limit {
    failures: 20,
    window: Duration::from_secs(600),
};
/// Logins to one account from a browser that logged in to it before
/// ([`crate::known_browser`]): 5 failures in 10 minutes, counted apart from the address's
/// and the account's, so that a guesser behind the venue's address locks no lead out.
pub const LOGIN_FROM_A_KNOWN_BROWSER: Limit = Limit {
    failures: 5,
    window: Duration::from_secs(600),
};
/// Enrolment codes from one address: 10 failures in 10 minutes.
pub const ENROL_PER_ADDRESS: Limit = Limit {
    failures: 10,
    window: Duration::from_secs(600),
};

/// Scrapes of `/metrics` with a wrong token from one address: 20 in 10 minutes (a
/// Prometheus sent the wrong token, every 15 s, is refused for the rest of the window once
/// it has made 20).
pub const SCRAPE_PER_ADDRESS: Limit = Limit {
    failures: 20,
    window: Duration::from_secs(600),
};

/// The address as a guesser holds it: an IPv4 address, or an IPv6 address's /64 (one host
/// is usually given a whole /64 to pick from).
fn address_key(address: IpAddr) -> String {
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

/// An attempt refused: how long to wait, for `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub seconds: u64,
}

impl Refused {
    /// Refused for `wait`, a second at least.
    fn after(wait: Duration) -> Refused {
        Refused {
            seconds: wait.as_secs().max(1),
        }
    }

    /// Logs `what` from `from` refused.
    fn log(&self, what: &str, from: &str) {
        eprintln!(
            "{what} from {from} refused: too many failures, {} s to wait",
            self.seconds
        );
    }

    pub fn retry_after(self) -> [(header::HeaderName, String); 1] {
        [(header::RETRY_AFTER, self.seconds.to_string())]
    }

    /// As the API answers it: 429 with JSON.
    pub fn json(self) -> Response {
        let error = format!("too many failed attempts: try again in {} s", self.seconds);
        (
            StatusCode::TOO_MANY_REQUESTS,
            self.retry_after(),
            Json(serde_json::json!({ "error": error })),
        )
            .into_response()
    }
}

/// One request's attempt under the limits of its keys, for the HTTP handlers: begun before
/// the guess is checked, settled after.
pub struct Attempt<'t> {
    throttle: &'t Throttle,
    /// The keys the attempt counts against; first the one whose failures a success forgets
    /// (the address's, or for a login the account's from the address).
    keys: Vec<String>,
    counted: Counted<'t>,
}

/// Where an attempt was counted.
enum Counted<'t> {
    /// In this process's memory, at this instant.
    Here(Instant),
    /// In the database, as these rows (one per key, in the keys' order).
    Shared(&'t Shared, Vec<i64>),
}

impl<'t> Attempt<'t> {
    /// A login (dashboard form or API) from `address` to the account `name`; `known`, the
    /// browser's nonce when it holds the cookie of an earlier login to `name`: then it is
    /// counted against that alone.
    pub async fn login(
        throttle: &'t Throttle,
        address: IpAddr,
        name: &str,
        known: Option<&str>,
    ) -> Result<Attempt<'t>, Refused> {
        let from = address_key(address);
        let keys = match known {
            Some(browser) => vec![(
                format!("login#{browser}:{name}"),
                LOGIN_FROM_A_KNOWN_BROWSER,
            )],
            // The pair first: a success forgets its failures alone.
            None => vec![
                (
                    format!("login@{from}:{name}"),
                    LOGIN_PER_ADDRESS_AND_ACCOUNT,
                ),
                (format!("login@{from}"), LOGIN_PER_ADDRESS),
                (format!("login:{name}"), LOGIN_PER_ACCOUNT),
            ],
        };
        Attempt::begin(throttle, keys, throttle.shared.as_ref())
            .await
            .inspect_err(|r| r.log("login", &from))
    }

    /// An enrolment code tried from `address`.
    pub async fn enrolment(
        throttle: &'t Throttle,
        address: IpAddr,
    ) -> Result<Attempt<'t>, Refused> {
        let from = address_key(address);
        let keys = vec![(format!("enrol@{from}"), ENROL_PER_ADDRESS)];
        Attempt::begin(throttle, keys, throttle.shared.as_ref())
            .await
            .inspect_err(|r| r.log("enrolment", &from))
    }

    /// A scrape of `/metrics` from `address`, with a token to check, counted by this process
    /// (whose own listener it came to). Keyed by the whole address, not an IPv6 address's
    /// /64 as logins are: a neighbour on Prometheus' network would otherwise refuse
    /// Prometheus' scrapes by guessing. Not logged here: a refused scraper comes back every
    /// few seconds (`scrape` logs the first refusal of a while).
    pub async fn scrape(throttle: &'t Throttle, address: IpAddr) -> Result<Attempt<'t>, Refused> {
        let from = address.to_canonical();
        let keys = vec![(format!("scrape@{from}"), SCRAPE_PER_ADDRESS)];
        Attempt::begin(throttle, keys, None).await
    }

    /// Counts the attempt, or refuses it with the time to wait: in `shared`'s database when
    /// given (in memory should the database not answer, which is logged), else here.
    async fn begin(
        throttle: &'t Throttle,
        keys: Vec<(String, Limit)>,
        shared: Option<&'t Shared>,
    ) -> Result<Attempt<'t>, Refused> {
        let (names, limits): (Vec<String>, Vec<Limit>) = keys.into_iter().unzip();
        if let Some(shared) = shared {
            let now = Instant::now();
            if let Some(wait) = shared.refused_for(&names, now) {
                return Err(Refused::after(wait));
            }
            let in_database: Vec<(&str, KeyLimit)> = names
                .iter()
                .zip(&limits)
                .map(|(k, l)| (k.as_str(), l.in_database()))
                .collect();
            match fairpos_postgres::throttle::begin(&shared.pool, &in_database).await {
                Ok(Ok(ids)) => {
                    return Ok(Attempt {
                        throttle,
                        keys: names,
                        counted: Counted::Shared(shared, ids),
                    });
                }
                Ok(Err(at_limit)) => {
                    let mut longest = Duration::ZERO;
                    for (place, seconds) in at_limit {
                        let wait = Duration::from_secs(seconds);
                        if let Some(key) = names.get(place) {
                            shared.remember_refused(key, wait, now);
                        }
                        longest = longest.max(wait);
                    }
                    return Err(Refused::after(longest));
                }
                Err(e) => eprintln!("counting an attempt in the database: {e}; counted here"),
            }
        }
        // Taken again: the database may have taken its time to fail.
        let at = Instant::now();
        let here: Vec<(&str, Limit)> = names.iter().map(String::as_str).zip(limits).collect();
        match throttle.begin(&here, at) {
            Ok(()) => Ok(Attempt {
                throttle,
                keys: names,
                counted: Counted::Here(at),
            }),
            Err(wait) => Err(Refused::after(wait)),
        }
    }

    /// The guess was wrong: it stays counted.
    pub fn failed(self) {}

    /// The guess was right: the first key's failures are forgotten (the address's; for a
    /// login, those of the account from the address), the others' attempt taken back (the
    /// failures of a login's address to other accounts stay).
    pub async fn succeeded(self) {
        let Some((first, others)) = self.keys.split_first() else {
            return;
        };
        match &self.counted {
            Counted::Here(at) => {
                self.throttle.forget(first);
                for key in others {
                    self.throttle.undo(key, *at);
                }
            }
            Counted::Shared(shared, ids) => {
                // Ids in the keys' order: the other keys' are all but the first.
                shared.take_back(&self.keys, Some(first), &ids[1..]).await;
            }
        }
    }

    /// Neither right nor wrong (the database failed): taken back.
    pub async fn void(self) {
        match &self.counted {
            Counted::Here(at) => {
                for key in &self.keys {
                    self.throttle.undo(key, *at);
                }
            }
            Counted::Shared(shared, ids) => {
                shared.take_back(&self.keys, None, ids).await;
            }
        }
    }
}

impl Limit {
    /// The limit as the database counts it.
    fn in_database(self) -> KeyLimit {
        KeyLimit {
            failures: self.failures as u32,
            window_seconds: self.window.as_secs() as u32,
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
            let at = start + Duration::from_secs(i * 10);
            assert_eq!(t.begin(&[("a", THREE)], at), Ok(()), "try {i}");
        }
        let now = start + Duration::from_secs(25);
        assert_eq!(t.begin(&[("a", THREE)], now), Err(Duration::from_secs(35)));
        assert_eq!(t.begin(&[("b", THREE)], now), Ok(()), "other keys are free");
        assert_eq!(
            t.begin(&[("a", THREE)], start + Duration::from_secs(60)),
            Ok(())
        );
        t.forget("a");
        assert_eq!(t.begin(&[("a", THREE)], now), Ok(()));
    }

    #[test]
    fn an_attempt_taken_back_does_not_count_and_a_refused_one_counts_nowhere() {
        let t = Throttle::default();
        let now = Instant::now();
        let one = Limit {
            failures: 1,
            window: Duration::from_secs(100),
        };
        assert_eq!(t.begin(&[("addr", THREE), ("account", one)], now), Ok(()));
        // The account's one failure refuses the next attempt, which counts against no key.
        let later = now + Duration::from_secs(1);
        assert!(t
            .begin(&[("addr", THREE), ("account", one)], later)
            .is_err());
        t.undo("account", now);
        assert_eq!(t.begin(&[("addr", THREE), ("account", one)], later), Ok(()));
        // addr holds two attempts (the refused one was not counted).
        let third = now + Duration::from_secs(2);
        t.undo("account", later);
        assert_eq!(t.begin(&[("addr", THREE)], third), Ok(()));
        assert!(t.begin(&[("addr", THREE)], third).is_err());
    }

    /// A pool whose database never answers: nothing listens on port 1.
    fn unreachable() -> fairpos_postgres::Pool {
        fairpos_postgres::connect("postgres://fairpos@127.0.0.1:1/none").unwrap()
    }

    #[tokio::test]
    async fn attempts_the_database_cannot_count_are_counted_here() {
        let t = Throttle::shared_in(unreachable());
        let address: IpAddr = "203.0.113.7".parse().unwrap();
        for i in 0..5 {
            let attempt = Attempt::login(&t, address, "organizer", None).await;
            attempt.unwrap_or_else(|_| panic!("try {i}")).failed();
        }
        let refused = Attempt::login(&t, address, "organizer", None).await.err();
        let refused = refused.expect("the sixth, refused by this process's count");
        assert!(refused.seconds > 590, "{refused:?}");
    }

    #[tokio::test]
    async fn a_refusal_of_the_database_is_answered_here_until_its_wait_is_over() {
        let t = Throttle::shared_in(unreachable());
        let shared = t.shared.as_ref().unwrap();
        let address: IpAddr = "203.0.113.7".parse().unwrap();
        let now = Instant::now();
        shared.remember_refused("login@203.0.113.7:organizer", Duration::from_secs(30), now);
        // Not asked of the database, which would not answer (and the attempt would then be
        // counted here, and taken).
        let refused = Attempt::login(&t, address, "organizer", None).await.err();
        let refused = refused.expect("remembered");
        assert!((29..=30).contains(&refused.seconds), "{refused:?}");
        // Another account from the address was not refused: asked (here, counted here).
        Attempt::login(&t, address, "lead1", None)
            .await
            .unwrap()
            .failed();
        // A success of the account from the address forgets what was refused with it.
        let pair = "login@203.0.113.7:organizer";
        shared.take_back(&[pair.to_string()], Some(pair), &[]).await;
        Attempt::login(&t, address, "organizer", None)
            .await
            .unwrap()
            .failed();
        // The address at its limit: every account from it refused here, lead2 too, the
        // longest wait said; not from elsewhere.
        shared.remember_refused("login@203.0.113.7", Duration::from_secs(200), now);
        shared.remember_refused("login:lead2", Duration::from_secs(50), now);
        let refused = Attempt::login(&t, address, "lead2", None).await.err();
        assert!((199..=200).contains(&refused.expect("the address").seconds));
        let elsewhere: IpAddr = "192.0.2.1".parse().unwrap();
        let refused = Attempt::login(&t, elsewhere, "lead2", None).await.err();
        assert!((49..=50).contains(&refused.expect("the account").seconds));
        Attempt::login(&t, elsewhere, "lead1", None)
            .await
            .unwrap()
            .failed();
        // An attempt taken back on the address (another one, in flight, that succeeded):
        // the address may be below its limit again, so the database is asked again.
        let keys = [
            "login@203.0.113.7:lead3",
            "login@203.0.113.7",
            "login:lead3",
        ];
        let keys = keys.map(String::from);
        shared.take_back(&keys, Some(&keys[0]), &[]).await;
        Attempt::login(&t, address, "lead4", None)
            .await
            .unwrap()
            .failed();
        // A refusal whose wait is over is asked again.
        shared.remember_refused("enrol@198.51.100.1", Duration::ZERO, now);
        let from: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(Attempt::enrolment(&t, from).await.is_ok());
    }

    #[tokio::test]
    async fn one_person_mistyping_locks_out_only_their_account_from_their_address() {
        let t = Throttle::default();
        let venue: IpAddr = "198.51.100.20".parse().unwrap();
        for i in 0..5 {
            let attempt = Attempt::login(&t, venue, "lead1", None).await;
            attempt.unwrap_or_else(|_| panic!("try {i}")).failed();
        }
        assert!(Attempt::login(&t, venue, "lead1", None).await.is_err());
        // Another lead behind the venue's address, and lead1 from elsewhere, log in.
        Attempt::login(&t, venue, "lead2", None)
            .await
            .unwrap()
            .succeeded()
            .await;
        let home: IpAddr = "203.0.113.1".parse().unwrap();
        Attempt::login(&t, home, "lead1", None)
            .await
            .unwrap()
            .succeeded()
            .await;
        // A guesser trying account after account from one address: 30 failures, then
        // every account is refused from there, lead2 too.
        for i in 0..25 {
            let attempt = Attempt::login(&t, venue, &format!("name{i}"), None).await;
            attempt.unwrap_or_else(|_| panic!("name {i}")).failed();
        }
        let refused = Attempt::login(&t, venue, "lead2", None).await.err();
        assert!(refused.expect("the address's limit").seconds > 590);
        // Elsewhere lead2 is not.
        Attempt::login(&t, home, "lead2", None)
            .await
            .unwrap()
            .failed();
    }

    #[tokio::test]
    async fn a_browser_that_logged_in_before_is_held_by_its_own_failures_alone() {
        let t = Throttle::default();
        let venue: IpAddr = "198.51.100.20".parse().unwrap();
        // A guesser: 20 failures on lead1 from four addresses, 30 on others from the venue's.
        for i in 0..50 {
            let (from, name) = match i {
                0..20 => (
                    format!("203.0.113.{}", 10 + i / 5).parse().unwrap(),
                    "lead1".into(),
                ),
                _ => (venue, format!("name{i}")),
            };
            let attempt = Attempt::login(&t, from, &name, None).await;
            attempt.unwrap_or_else(|_| panic!("try {i}")).failed();
        }
        assert!(Attempt::login(&t, venue, "lead1", None).await.is_err());
        let home: IpAddr = "203.0.113.1".parse().unwrap();
        assert!(
            Attempt::login(&t, home, "lead1", None).await.is_err(),
            "the account's"
        );
        // lead1's own browser at the venue is not held by those, mistypes five times, and
        // then is.
        let known = Some("0123456789abcdef0123456789abcdef");
        for i in 0..5 {
            let attempt = Attempt::login(&t, venue, "lead1", known).await;
            attempt.unwrap_or_else(|_| panic!("known try {i}")).failed();
        }
        assert!(Attempt::login(&t, venue, "lead1", known).await.is_err());
        // Another browser lead1 logged in from before is not.
        let other = Some("fedcba9876543210fedcba9876543210");
        Attempt::login(&t, venue, "lead1", other)
            .await
            .unwrap()
            .succeeded()
            .await;
    }

    #[tokio::test]
    async fn a_success_forgets_the_accounts_own_failures_from_its_address_only() {
        let t = Throttle::default();
        let venue: IpAddr = "198.51.100.20".parse().unwrap();
        for _ in 0..4 {
            Attempt::login(&t, venue, "lead1", None)
                .await
                .unwrap()
                .failed();
        }
        Attempt::login(&t, venue, "lead1", None)
            .await
            .unwrap()
            .succeeded()
            .await;
        // lead1's four are forgotten: five more may fail before a refusal.
        for i in 0..5 {
            let attempt = Attempt::login(&t, venue, "lead1", None).await;
            attempt.unwrap_or_else(|_| panic!("try {i}")).failed();
        }
        assert!(Attempt::login(&t, venue, "lead1", None).await.is_err());
        // The address still holds all nine failures: 21 more to any other accounts refuse it.
        for i in 0..21 {
            let attempt = Attempt::login(&t, venue, &format!("name{i}"), None).await;
            attempt.unwrap_or_else(|_| panic!("name {i}")).failed();
        }
        assert!(Attempt::login(&t, venue, "lead2", None).await.is_err());
    }

    #[test]
    fn ipv6_guessers_are_held_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key("::ffff:10.0.0.7".parse().unwrap()), "10.0.0.7");
    }
}
