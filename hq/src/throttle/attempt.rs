//! One request's attempt at a guess, under the limits of its keys.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fairpos_postgres::throttle::KeyLimit;

use super::shared::Shared;
use super::{
    address_key, Limit, Throttle, ENROL_PER_ADDRESS, LOGIN_FROM_A_KNOWN_BROWSER, LOGIN_PER_ACCOUNT,
    LOGIN_PER_ADDRESS, LOGIN_PER_ADDRESS_AND_ACCOUNT, SCRAPE_PER_ADDRESS,
};

/// An attempt refused: how long to wait, for `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub seconds: u64,
}

impl Refused {
    /// Refused for `wait`, in whole seconds rounded up (a client told 599 of 599.6 was
    /// refused again at once), a second at least.
    pub(super) fn after(wait: Duration) -> Refused {
        let up = u64::from(wait.subsec_nanos() > 0);
        Refused {
            seconds: (wait.as_secs() + up).max(1),
        }
    }

    /// Logs `what` from `from` refused, in `throttle`'s log of refusals: once a minute for
    /// each, saying how many more there were.
    fn log(&self, throttle: &Throttle, what: &str, from: &str) {
        let line = format!(
            "{what} from {from} refused: too many failures, {} s to wait",
            self.seconds
        );
        throttle.refusals().write(format!("{what}@{from}"), line);
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
    /// A login (dashboard form or API) from `address` to the account `name` (as the
    /// throttle names it: [`crate::known_browser::BrowserKey::throttle_name`]); `known`, the
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
            .inspect_err(|r| r.log(throttle, "login", &from))
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
            .inspect_err(|r| r.log(throttle, "enrolment", &from))
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
