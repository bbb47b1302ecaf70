//! Dashboard sessions (of every account) expire: after a time without use (idle) and, used or not, after a
//! time since login (absolute). The cookie carries the absolute lifetime as `Max-Age`. Every
//! session can be ended at once (`fairpos hq end-sessions`).

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::accounts::Account;
use crate::{Error, Result};

/// How long a dashboard session lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// Ended after this long without a request.
    pub idle: Duration,
    /// Ended this long after login, however busy.
    pub absolute: Duration,
}

impl Default for SessionLimits {
    /// An hour idle, twelve hours in all: a fair day.
    fn default() -> SessionLimits {
        SessionLimits {
            idle: Duration::hours(1),
            absolute: Duration::hours(12),
        }
    }
}

/// A span as an operator writes it: `90s`, `30m`, `12h`, `2d`.
pub fn parse_span(flag: &str, text: &str) -> Result<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits
        .parse()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or_else(|| Error::input(format!("{flag} {text}: give a span such as 90s, 30m, 12h")))?;
    match unit {
        "s" => Ok(Duration::seconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        _ => Err(Error::input(format!(
            "{flag} {text}: the unit is s, m, h or d (90s, 30m, 12h)"
        ))),
    }
}

/// As [`parse_span`], as a standard duration (for timers).
pub fn parse_std_span(flag: &str, text: &str) -> Result<std::time::Duration> {
    parse_span(flag, text)?
        .to_std()
        .map_err(|e| Error::input(format!("{flag} {text}: {e}")))
}

/// Adds what older databases lack.
pub(crate) fn migrate(conn: &Connection) -> Result<()> {
    use fairpos_projection::schema::has_column;
    if !has_column(conn, "sessions", "last_seen")? {
        conn.execute_batch("ALTER TABLE sessions ADD COLUMN last_seen TEXT")?;
    }
    if !has_column(conn, "sessions", "account")? {
        // Sessions from before accounts were the one organizer's.
        conn.execute_batch(&format!(
            "ALTER TABLE sessions ADD COLUMN account TEXT;
             UPDATE sessions SET account = '{}';",
            crate::accounts::FIRST_ORGANIZER
        ))?;
    }
    Ok(())
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Records a new session of `account` (tests; a login opens one with [`open_if_password`]).
#[cfg(test)]
pub(crate) fn open(conn: &Connection, token_hash: &str, peer: &str, account: &str) -> Result<()> {
    let now = stamp(Utc::now());
    conn.execute(
        "INSERT INTO sessions(token_hash, peer, created_at, last_seen, account)
         VALUES (?1, ?2, ?3, ?3, ?4)",
        params![token_hash, peer, now, account],
    )?;
    Ok(())
}

/// Records a new session of `account`, only while its password is still `password_hash`,
/// the one a login checked: a password changed (its sessions ended) or an account removed during the check
/// opens none. Whether it opened one.
pub(crate) fn open_if_password(
    conn: &Connection,
    token_hash: &str,
    peer: &str,
    account: &str,
    password_hash: &str,
) -> Result<bool> {
    let now = stamp(Utc::now());
    let opened = conn.execute(
        "INSERT INTO sessions(token_hash, peer, created_at, last_seen, account)
         SELECT ?1, ?2, ?3, ?3, name FROM accounts WHERE name = ?4 AND password_hash = ?5",
        params![token_hash, peer, now, account, password_hash],
    )?;
    Ok(opened == 1)
}

/// A session opened by a login.
pub struct Opened {
    pub token: String,
    pub peer_id: String,
    pub account: Account,
    /// The account's password as stored, for what is signed with it (a known browser's
    /// cookie).
    pub password_hash: String,
}

/// What the sessions table says of a token, without writing.
pub(crate) enum Looked {
    /// No such session.
    Missing,
    /// Expired, or its account is gone: refused, and removed by [`sweep`].
    Ended,
    /// Live: its peer and account, and whether its use is worth recording now.
    Live {
        peer: String,
        account: String,
        stale: bool,
    },
}

/// Reads what the session of `token_hash` is under `limits`; writes nothing, so a reading
/// connection answers every request (the use, when due, is written afterwards).
pub(crate) fn look(conn: &Connection, token_hash: &str, limits: &SessionLimits) -> Result<Looked> {
    let row: Option<(String, String, Option<String>, Option<String>)> = conn
        .query_row(
            "SELECT peer, created_at, last_seen, account FROM sessions WHERE token_hash = ?1",
            [token_hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((peer, created, seen, account)) = row else {
        return Ok(Looked::Missing);
    };
    let now = Utc::now();
    let (created, seen) = times(&created, seen.as_deref());
    let alive = ended(created, seen, now, limits).is_none();
    let Some(account) = account.filter(|_| alive) else {
        return Ok(Looked::Ended);
    };
    // The use is written when it moves the idle deadline noticeably (a quarter of the idle
    // time, at most a minute), not on every request of a page.
    let stale = seen.is_none_or(|s| now - s >= (limits.idle / 4).min(Duration::minutes(1)));
    Ok(Looked::Live {
        peer,
        account,
        stale,
    })
}

/// A session's login and last use as written (a session never used since its login was
/// last used then).
fn times(created: &str, seen: Option<&str>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let at = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    let created = at(created);
    (created, seen.and_then(at).or(created))
}

/// Why a session logged in at `created` and last used at `seen` has ended under `limits`
/// at `now`, if it has: its lifetime over (said first), or unused for its idle time. A
/// time that cannot be read ends it.
fn ended(
    created: Option<DateTime<Utc>>,
    seen: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    limits: &SessionLimits,
) -> Option<String> {
    let (Some(created), Some(seen)) = (created, seen) else {
        return Some("its times cannot be read".into());
    };
    if now - created >= limits.absolute {
        Some(lifetime_over(limits))
    } else if now - seen >= limits.idle {
        Some(unused(limits))
    } else {
        None
    }
}

/// Why a session ended, as the audit log says it: its lifetime was over.
pub(crate) fn lifetime_over(limits: &SessionLimits) -> String {
    format!("{} after its login", span_text(limits.absolute))
}

/// Why a session ended, as the audit log says it: it was unused for its idle time.
pub(crate) fn unused(limits: &SessionLimits) -> String {
    format!("unused for {}", span_text(limits.idle))
}

/// Why a session ended, as the audit log says it: its account was removed.
pub(crate) const ACCOUNT_REMOVED: &str = "its account was removed";

/// `span` as `--session-idle` takes it: `90s`, `30m`, `12h`.
fn span_text(span: Duration) -> String {
    let s = span.num_seconds();
    match s {
        _ if s % 3600 == 0 => format!("{}h", s / 3600),
        _ if s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// What the audit log calls a session the sweep removed.
pub const ENDED: &str = "session ended";

/// Removes every session that has ended under `limits` (expired, from before accounts, or
/// its account removed), each written in the audit log as ended and why, in one
/// transaction that takes the database for writing first; how many. Sessions are removed
/// here alone, so each is written once. Those of `being_used` (token hashes), whose last use
/// is still to be written, are left to the next sweep.
pub fn sweep(
    conn: &Connection,
    limits: &SessionLimits,
    being_used: &HashSet<String>,
) -> Result<usize> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let now = Utc::now();
    let mut swept = 0;
    for session in listed(&tx)? {
        let Some(why) = session.ended(now, limits) else {
            continue;
        };
        if being_used.contains(&session.token_hash) {
            continue;
        }
        tx.execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            [&session.token_hash],
        )?;
        // A session from before accounts was the organizers' one password's.
        let first = || crate::accounts::FIRST_ORGANIZER.to_string();
        let actor = session.account.unwrap_or_else(first);
        crate::audit::record(&tx, &actor, "local", ENDED, &format!("dashboard: {why}"))?;
        swept += 1;
    }
    tx.commit()?;
    Ok(swept)
}

/// Whether a session has ended under `limits` (read only: a sweep with nothing to do need
/// not take the database for writing).
pub fn any_ended(conn: &Connection, limits: &SessionLimits) -> Result<bool> {
    let now = Utc::now();
    Ok(listed(conn)?.iter().any(|s| s.ended(now, limits).is_some()))
}

/// Every session, oldest first, as [`sweep`] reads it.
fn listed(conn: &Connection) -> Result<Vec<Swept>> {
    let mut listed = conn.prepare(
        "SELECT s.token_hash, s.created_at, s.last_seen, s.account, a.name IS NOT NULL
         FROM sessions s LEFT JOIN accounts a ON a.name = s.account
         ORDER BY s.created_at",
    )?;
    let sessions = listed
        .query_map([], |r| {
            Ok(Swept {
                token_hash: r.get(0)?,
                times: times(
                    &r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?.as_deref(),
                ),
                account: r.get(3)?,
                account_kept: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(sessions)
}

/// A session as [`sweep`] reads it.
struct Swept {
    token_hash: String,
    /// When it was opened and last used.
    times: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    account: Option<String>,
    /// Whether its account is still there.
    account_kept: bool,
}

impl Swept {
    /// Why it has ended under `limits` at `now`, if it has.
    fn ended(&self, now: DateTime<Utc>, limits: &SessionLimits) -> Option<String> {
        let (created, seen) = self.times;
        match (&self.account, self.account_kept) {
            (None, _) => Some("it was opened before accounts".to_string()),
            (Some(_), false) => Some(ACCOUNT_REMOVED.to_string()),
            (Some(_), true) => ended(created, seen, now, limits),
        }
    }
}

/// Records that the session of `token_hash` was used `at`, which [`look`] found due: its
/// idle deadline moves. A session swept meanwhile stays gone.
pub(crate) fn record_use(conn: &Connection, token_hash: &str, at: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE sessions SET last_seen = ?2 WHERE token_hash = ?1",
        params![token_hash, stamp(at)],
    )?;
    Ok(())
}

/// Ends every session of every account; how many there were.
pub fn end_all(conn: &Connection) -> Result<usize> {
    Ok(conn.execute("DELETE FROM sessions", [])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_read_with_their_unit() {
        assert_eq!(parse_span("--x", "90s").unwrap(), Duration::seconds(90));
        assert_eq!(parse_span("--x", "30m").unwrap(), Duration::minutes(30));
        assert_eq!(parse_span("--x", "12h").unwrap(), Duration::hours(12));
        for bad in ["", "m", "0s", "12", "3w", "-5m", "1.5h"] {
            assert!(parse_span("--x", bad).is_err(), "{bad}");
        }
    }
}
