//! Who did what at headquarters (the audit log): each command that changed it (accounts,
//! devices, screen links, imports, statements, slips, backups and restores), by the system
//! user who ran it and, over SSH, the address they came from; and each login to the
//! dashboard or the API, refused or not, by the account and the client's address. Kept in the
//! data directory's database, or in PostgreSQL for a headquarters there, which every process
//! and data directory naming it shares (`fairpos_postgres::audit`). Passwords, tokens and
//! enrolment codes are never written to it. `hq audit` lists it.

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::{now_text, Result};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,     -- a system user (a command) or an account (a login)
    address TEXT NOT NULL,     -- where they came from: an IP address, or 'local'
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL
) STRICT;
";

/// The longest an account name given at a login is kept (a client may send anything).
const LONGEST_GIVEN_NAME: usize = 64;

/// One thing done, as the log holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// RFC 3339, UTC, to the second.
    pub at: String,
    pub actor: String,
    pub address: String,
    pub action: String,
    pub detail: String,
}

/// Writes what `actor` from `address` did.
pub fn record(
    conn: &Connection,
    actor: &str,
    address: &str,
    action: &str,
    detail: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO audit_log(at, actor, address, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_text(), actor, address, action, detail],
    )?;
    Ok(())
}

/// The last `latest` entries (every one for `None`), oldest first.
pub fn entries(conn: &Connection, latest: Option<u32>) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare(
        "SELECT at, actor, address, action, detail
         FROM (SELECT * FROM audit_log ORDER BY id DESC LIMIT ?1) ORDER BY id",
    )?;
    // SQLite takes a negative limit as none.
    let limit = latest.map_or(-1, i64::from);
    let rows = stmt.query_map([limit], |r| {
        Ok(Entry {
            at: r.get(0)?,
            actor: r.get(1)?,
            address: r.get(2)?,
            action: r.get(3)?,
            detail: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
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

/// `(at, actor, address, action, detail)`.
type StoredEntry = (String, String, String, String, String);

/// An account name a client gave at a login, as it may be written down: at most
/// [`LONGEST_GIVEN_NAME`] characters, control characters (a forged line break) shown as
/// `\u{…}` escapes.
pub fn given_name(name: &str) -> String {
    let mut shown: String = name
        .chars()
        .take(LONGEST_GIVEN_NAME)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if name.chars().count() > LONGEST_GIVEN_NAME {
        shown.push('…');
    }
    shown
}

/// The system user running this process, as a command's actor: `alice`, or `root (sudo by
/// alice)` when sudo ran it; the user id when the system has no name for it.
pub fn system_user() -> String {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let name = user_name(uid).unwrap_or_else(|| format!("uid {uid}"));
    match std::env::var("SUDO_USER") {
        Ok(by) if !by.is_empty() && by != name => format!("{name} (sudo by {by})"),
        _ => name,
    }
}

/// The name the system's user database gives user `uid`.
fn user_name(uid: libc::uid_t) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: an all-zero passwd is a valid out-parameter; getpwuid_r writes only into it and
    // `buffer` (whose length it is told), and `found` points at it or is null.
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
    if failed != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: pw_name points into `buffer`, a NUL-terminated string getpwuid_r wrote.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// Where the user running this process came from: the client's address of the SSH session
/// it runs in (`SSH_CONNECTION`), else `local`.
pub fn system_user_address() -> String {
    std::env::var("SSH_CONNECTION")
        .ok()
        .and_then(|c| c.split_whitespace().next().map(str::to_string))
        .filter(|a| a.parse::<std::net::IpAddr>().is_ok())
        .unwrap_or_else(|| "local".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_given_at_a_login_is_cut_short_and_its_control_characters_escaped() {
        assert_eq!(given_name("organizer"), "organizer");
        assert_eq!(given_name("a\nb"), "a\\u{a}b");
        let long = "x".repeat(100);
        assert_eq!(given_name(&long), format!("{}…", "x".repeat(64)));
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
