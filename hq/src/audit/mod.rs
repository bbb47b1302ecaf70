//! Who did what at headquarters (the audit log): each command run to change it (`init`,
//! accounts, devices, screen links, sessions ended, imports, statements, slips, enrolling a
//! hub, backups and restores, PostgreSQL migrations), done or failed, by the system user who
//! ran it and, over SSH, the address they came from; each device enrolling through the API,
//! refused or not; each login to the dashboard or the API, refused or not, and each logout
//! from the dashboard, by the account and the client's address. Kept in the data
//! directory's database, or in PostgreSQL for a headquarters there, which every process and
//! data directory naming it shares (`fairpos_postgres::audit`). Passwords, tokens and
//! enrolment codes are never written to it, nor a name given at a login that is no
//! account's. `hq audit` and the dashboard's `/audit` list it; `hq audit prune` moves what
//! is older than six months into an archive file ([`prune`]). Each entry is linked to the
//! one before it by SHA-256 ([`fairpos_postgres::audit::chain`]), which `hq audit verify`
//! walks ([`verify`]).

pub mod archive;
pub mod export;
pub mod prune;
pub mod verify;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use fairpos_postgres::audit::chain::{self, Link};
use fairpos_postgres::audit::{Filter, StoredEntry};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;

use crate::{now_text, time_text, Error, Result};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,     -- a system user (a command) or an account (a login)
    address TEXT NOT NULL,     -- where they came from: an IP address, or 'local'
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL,
    -- Its place in the chain (fairpos_postgres::audit::chain): the digest of the entry
    -- before it, and its own.
    follows TEXT,
    digest  TEXT
) STRICT;
-- Finding and pruning by day without reading the whole log.
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at);
";

/// Makes the log, or gives an older one the chain's columns and links its entries in
/// order ([`chain`]), in one transaction that takes the database for writing first: a
/// second process opening it meanwhile finds it done.
pub fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(SCHEMA)?;
    let has = |column| fairpos_projection::schema::has_column(conn, "audit_log", column);
    if has("follows")? && has("digest")? {
        return Ok(());
    }
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let mut missing = Vec::new();
    for column in ["follows", "digest"] {
        if !has(column)? {
            missing.push(column);
        }
    }
    if missing.is_empty() {
        // Begun by another process meanwhile.
        return Ok(());
    }
    for column in missing {
        tx.execute_batch(&format!("ALTER TABLE audit_log ADD COLUMN {column} TEXT"))?;
    }
    link_in_order(&tx)?;
    tx.commit()?;
    Ok(())
}

/// How many entries of an older log are read at a time to be linked.
const LINKED_AT_A_TIME: i64 = 10_000;

/// Links every entry of the log in order of numbers, a batch at a time (a province's log
/// holds millions).
fn link_in_order(conn: &Connection) -> Result<()> {
    let (mut follows, mut after, mut linked) = (chain::START.to_string(), i64::MIN, 0u64);
    let mut read = conn.prepare(
        "SELECT id, at, actor, address, action, detail FROM audit_log
         WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let mut link = conn.prepare("UPDATE audit_log SET follows = ?1, digest = ?2 WHERE id = ?3")?;
    loop {
        let rows = read.query_map(params![after, LINKED_AT_A_TIME], |r| {
            Ok((r.get::<_, i64>(0)?, entry_from(r, 1)?))
        })?;
        let batch = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        let Some((last, _)) = batch.last() else {
            break;
        };
        after = *last;
        for (id, entry) in &batch {
            let digest = chain::digest(&follows, &entry.stored());
            link.execute(params![follows, digest, id])?;
            follows = digest;
        }
        linked += batch.len() as u64;
        if linked.is_multiple_of(100_000) {
            eprintln!("{linked} audit log entries linked…");
        }
    }
    Ok(())
}

/// One thing done, as the log holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Entry {
    /// RFC 3339, UTC, to the second.
    pub at: String,
    pub actor: String,
    pub address: String,
    pub action: String,
    pub detail: String,
}

impl Entry {
    /// The entry with what a client or a person may have typed (actor, address, detail)
    /// written as [`crate::untrusted::shown`]: no escape, bidi override or line break of it
    /// reaches a page, a spreadsheet or a terminal as itself.
    pub fn shown(&self) -> Entry {
        use crate::untrusted::shown;
        Entry {
            at: self.at.clone(),
            actor: shown(&self.actor),
            address: shown(&self.address),
            action: self.action.clone(),
            detail: shown(&self.detail),
        }
    }
}

/// Writes what `actor` from `address` did, now.
pub fn record(
    conn: &Connection,
    actor: &str,
    address: &str,
    action: &str,
    detail: &str,
) -> Result<()> {
    let entry = Entry {
        at: now_text(),
        actor: actor.to_string(),
        address: address.to_string(),
        action: action.to_string(),
        detail: detail.to_string(),
    };
    insert(conn, &entry)
}

/// Writes `entry` as it was, its time kept (an entry carried into a restored database),
/// following the newest entry: in `conn`'s transaction, or else in one of its own that
/// takes the database for writing first, so that no other writer comes between.
pub fn insert(conn: &Connection, entry: &Entry) -> Result<()> {
    if !conn.is_autocommit() {
        return insert_linked(conn, entry);
    }
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    insert_linked(&tx, entry)?;
    tx.commit()?;
    Ok(())
}

fn insert_linked(conn: &Connection, entry: &Entry) -> Result<()> {
    insert_following(conn, entry, &head(conn)?)
}

/// Writes `entry` in `conn`'s transaction following the digest `follows`.
pub(crate) fn insert_following(conn: &Connection, entry: &Entry, follows: &str) -> Result<()> {
    let stored = entry.stored();
    let digest = chain::digest(follows, &stored);
    let (at, actor, address, action, detail) = &stored;
    conn.execute(
        "INSERT INTO audit_log(at, actor, address, action, detail, follows, digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![at, actor, address, action, detail, follows, digest],
    )?;
    Ok(())
}

/// The newest linked entry's digest ([`chain::START`] for none).
pub(crate) fn head(conn: &Connection) -> Result<String> {
    let newest = conn
        .query_row(
            "SELECT digest FROM audit_log WHERE digest IS NOT NULL ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(newest.unwrap_or_else(|| chain::START.to_string()))
}

/// An entry's place in the chain, from `row`'s columns from `first` on: `follows, digest`.
pub(crate) fn link_from(row: &rusqlite::Row, first: usize) -> rusqlite::Result<Link> {
    Ok(Link {
        follows: row.get(first)?,
        digest: row.get(first + 1)?,
    })
}

/// The last `latest` entries (every one for `None`) with their numbers, oldest first.
pub fn numbered(conn: &Connection, latest: Option<u32>) -> Result<Vec<(i64, Entry)>> {
    let mut stmt = conn.prepare(
        "SELECT id, at, actor, address, action, detail
         FROM (SELECT * FROM audit_log ORDER BY id DESC LIMIT ?1) ORDER BY id",
    )?;
    // SQLite takes a negative limit as none.
    let limit = latest.map_or(-1, i64::from);
    let rows = stmt.query_map([limit], |r| Ok((r.get(0)?, entry_from(r, 1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The instant `day` begins at the fair (`offset`).
pub fn day_begins(day: NaiveDate, offset: FixedOffset) -> Result<DateTime<Utc>> {
    let midnight = day.and_time(NaiveTime::MIN).and_local_timezone(offset);
    let midnight = midnight
        .single()
        .ok_or_else(|| Error::input(format!("{day} has no midnight at {offset}")))?;
    Ok(midnight.with_timezone(&Utc))
}

/// The entries from day `since` to day `until` (both at the fair, `offset`; either end
/// open), of `action`, by an actor holding `actor`: as [`entries_where`] takes them.
pub fn filter(
    since: Option<NaiveDate>,
    until: Option<NaiveDate>,
    offset: FixedOffset,
    action: Option<String>,
    actor: Option<String>,
) -> Result<Filter> {
    let until = match until.map(|day| day.succ_opt()) {
        Some(None) => {
            return Err(Error::input(
                "until: the last day of the calendar has no day after it",
            ))
        }
        Some(Some(next)) => Some(time_text(day_begins(next, offset)?)),
        None => None,
    };
    Ok(Filter {
        since: since
            .map(|day| day_begins(day, offset).map(time_text))
            .transpose()?,
        until,
        action,
        actor,
    })
}

/// The last `latest` entries `filter` lets through (every one for `None`), oldest first.
pub fn entries_where(
    conn: &Connection,
    filter: &Filter,
    latest: Option<u32>,
) -> Result<Vec<Entry>> {
    let (query, values) = filtered(filter, latest);
    let mut stmt = conn.prepare(&query)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(values), |r| entry_from(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The query of [`entries_where`] and the values it takes: only the conditions asked, so
/// that SQLite can find a time's entries by the index of times.
fn filtered(filter: &Filter, latest: Option<u32>) -> (String, Vec<&String>) {
    let Filter {
        since,
        until,
        action,
        actor,
    } = filter;
    let asked = [
        (since, "at >= ?"),
        (until, "at < ?"),
        (action, "action = ?"),
        (actor, "instr(actor, ?) > 0"),
    ];
    let (conditions, values): (Vec<&str>, Vec<&String>) = asked
        .iter()
        .filter_map(|(value, condition)| value.as_ref().map(|v| (*condition, v)))
        .unzip();
    let mut query =
        "SELECT at, actor, address, action, detail FROM (SELECT * FROM audit_log".to_string();
    if !conditions.is_empty() {
        query += &format!(" WHERE {}", conditions.join(" AND "));
    }
    // SQLite takes a negative limit as none.
    let limit = latest.map_or(-1, i64::from);
    query += &format!(" ORDER BY id DESC LIMIT {limit}) ORDER BY id");
    (query, values)
}

/// The last `latest` entries (every one for `None`), oldest first.
pub fn entries(conn: &Connection, latest: Option<u32>) -> Result<Vec<Entry>> {
    entries_where(conn, &Filter::default(), latest)
}

/// The entry in `row`'s columns from `first` on: `at, actor, address, action, detail`.
fn entry_from(row: &rusqlite::Row, first: usize) -> rusqlite::Result<Entry> {
    Ok(Entry {
        at: row.get(first)?,
        actor: row.get(first + 1)?,
        address: row.get(first + 2)?,
        action: row.get(first + 3)?,
        detail: row.get(first + 4)?,
    })
}

impl Entry {
    /// As `fairpos_postgres::audit` takes and gives it (and [`chain::digest`] hashes it).
    pub fn stored(&self) -> StoredEntry {
        let Entry {
            at,
            actor,
            address,
            action,
            detail,
        } = self.clone();
        (at, actor, address, action, detail)
    }
}

/// An entry as `fairpos_postgres::audit::entries` gives it.
pub fn from_postgres((at, actor, address, action, detail): StoredEntry) -> Entry {
    Entry {
        at,
        actor,
        address,
        action,
        detail,
    }
}

/// The most characters an entry keeps of what a client sent (why its enrolment was refused
/// may quote it): the rest is cut, so that a client cannot make one entry megabytes long.
const LONGEST_FROM_A_CLIENT: usize = 200;

/// `text`, from a client, cut to [`LONGEST_FROM_A_CLIENT`] characters (`…` marks the cut).
pub fn cut_short(text: &str) -> String {
    match text.char_indices().nth(LONGEST_FROM_A_CLIENT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The actor of a refused login whose name is no account's: the name is not written down,
/// as it may be a password typed in the wrong field.
pub const NO_SUCH_ACCOUNT: &str = "(no such account)";

/// The actor of a refused enrolment (the device a code names is not told).
pub const NO_DEVICE: &str = "(a device)";

/// The login user id the kernel gives a process none of (`/proc/self/loginuid`).
const NO_LOGIN_UID: u32 = u32::MAX;

/// The system user running this process, as a command's actor: `alice`; `root (logged in
/// as alice)` when the kernel records that the session was opened by another user
/// (`/proc/self/loginuid`, which sudo and su keep and a user cannot change); else `root
/// (sudo by alice)` when sudo says so (`SUDO_USER`); the user id when the system has no name
/// for it.
pub fn system_user() -> String {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let name = name_of(uid);
    if let Some(login) = login_user() {
        return format!("{name} (logged in as {})", name_of(login));
    }
    match std::env::var("SUDO_USER") {
        Ok(by) if !by.is_empty() && by != name => format!("{name} (sudo by {by})"),
        _ => name,
    }
}

/// The user the kernel records as having opened this process's session, when it records
/// one and it is not the user running it (`/proc/self/loginuid`; in a user namespace one
/// it cannot map reads as the overflow user, which is not taken).
fn login_user() -> Option<libc::uid_t> {
    let read =
        |path: &str| -> Option<u32> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let overflow = read("/proc/sys/kernel/overflowuid");
    read("/proc/self/loginuid")
        .filter(|&login| login != NO_LOGIN_UID && login != uid && Some(login) != overflow)
}

/// The name the system's user database gives user `uid`, else `uid N`.
fn name_of(uid: libc::uid_t) -> String {
    user_name(uid).unwrap_or_else(|| format!("uid {uid}"))
}

/// The name the system's user database gives user `uid`, if it has one.
fn user_name(uid: libc::uid_t) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 1024];
    loop {
        // SAFETY: an all-zero passwd is a valid out-parameter; getpwuid_r writes only into
        // it and `buffer` (whose length it is told), and `found` points at it or is null.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let failed = unsafe {
            libc::getpwuid_r(
                uid,
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut found,
            )
        };
        if failed == libc::ERANGE && buffer.len() < 1 << 20 {
            buffer.resize(buffer.len() * 4, 0);
            continue;
        }
        if failed != 0 || found.is_null() || entry.pw_name.is_null() {
            return None;
        }
        // SAFETY: pw_name points into `buffer`, a NUL-terminated string getpwuid_r wrote.
        let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
        return Some(name.to_string_lossy().into_owned());
    }
}

/// Where the user running this process came from: the client's address of the SSH session
/// it runs in (`SSH_CONNECTION`); `unknown` when another user opened the session (sudo
/// and `su -` leave that variable out, sudo unless told to keep it: `Defaults env_keep +=
/// "SSH_CONNECTION"`); else `local`.
pub fn system_user_address() -> String {
    let ssh = std::env::var("SSH_CONNECTION")
        .ok()
        .and_then(|c| c.split_whitespace().next().map(str::to_string))
        .filter(|a| a.parse::<std::net::IpAddr>().is_ok());
    let switched = login_user().is_some() || std::env::var_os("SUDO_USER").is_some();
    match ssh {
        Some(address) => address,
        None if switched => "unknown".to_string(),
        None => "local".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_client_sent_is_cut_short() {
        assert_eq!(cut_short("a till of stall S01"), "a till of stall S01");
        let long = "这".repeat(250);
        let cut = cut_short(&long);
        assert_eq!(cut.chars().count(), 201);
        assert!(cut.ends_with("这…"), "{cut}");
        assert_eq!(cut_short(&"x".repeat(200)), "x".repeat(200));
    }

    #[test]
    fn entries_are_listed_by_time_action_and_actor() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        for (at, actor, action) in [
            ("2026-11-26T15:59:59Z", "root (sudo by alice)", "user add"),
            ("2026-11-26T16:00:00Z", "lead1", "login"),
            (
                "2026-11-27T09:00:00Z",
                "root (sudo by alice)",
                "revoke-device",
            ),
            ("2026-11-28T16:00:00Z", "lead1", "login refused"),
        ] {
            let entry = Entry {
                at: at.into(),
                actor: actor.into(),
                address: "local".into(),
                action: action.into(),
                detail: String::new(),
            };
            insert(&conn, &entry).unwrap();
        }
        let actions = |filter: Filter| -> Vec<String> {
            let listed = entries_where(&conn, &filter, None).unwrap();
            listed.into_iter().map(|e| e.action).collect()
        };
        assert_eq!(actions(Filter::default()).len(), 4);
        let window = Filter {
            since: Some("2026-11-26T16:00:00Z".into()),
            until: Some("2026-11-28T16:00:00Z".into()),
            ..Filter::default()
        };
        assert_eq!(actions(window), ["login", "revoke-device"]);
        let alice = Filter {
            actor: Some("alice".into()),
            ..Filter::default()
        };
        assert_eq!(actions(alice), ["user add", "revoke-device"]);
        let refused = Filter {
            action: Some("login refused".into()),
            actor: Some("lead1".into()),
            ..Filter::default()
        };
        assert_eq!(actions(refused), ["login refused"]);
        let lead1 = Filter {
            actor: Some("lead1".into()),
            ..Filter::default()
        };
        let last = entries_where(&conn, &lead1, Some(1)).unwrap();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].action, "login refused");
    }

    /// What SQLite's plan for `query` says it does, step by step.
    fn plan(conn: &Connection, query: &str, values: usize) -> String {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
            .unwrap();
        let none = vec![rusqlite::types::Null; values];
        let steps = stmt.query_map(rusqlite::params_from_iter(none), |r| r.get::<_, String>(3));
        steps
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn a_days_entries_are_found_by_the_index_of_times() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let days = Filter {
            since: Some("2026-11-26T16:00:00Z".into()),
            until: Some("2026-11-27T16:00:00Z".into()),
            ..Filter::default()
        };
        let (query, values) = filtered(&days, Some(500));
        let found = plan(&conn, &query, values.len());
        assert!(found.contains("USING INDEX audit_log_at"), "{found}");
        // A prune reads by number, up to the last entry before (found by the index).
        let read = plan(&conn, prune::READ_BEFORE, 1);
        assert!(read.contains("INTEGER PRIMARY KEY (rowid<?)"), "{read}");
        assert!(!read.contains("SCAN audit_log"), "{read}");
    }

    #[test]
    fn entries_are_listed_oldest_first_the_last_few_when_asked() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        record(&conn, "alice", "local", "user add", "lead1").unwrap();
        record(&conn, "lead1", "10.0.0.9", "login", "").unwrap();
        record(&conn, "lead1", "10.0.0.9", "login", "").unwrap();
        let listed = entries(&conn, None).unwrap();
        let actions: Vec<&str> = listed.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["user add", "login", "login"]);
        assert_eq!(listed[1].address, "10.0.0.9");
        let last_two = entries(&conn, Some(2)).unwrap();
        assert_eq!(last_two, listed[1..]);
    }
}
