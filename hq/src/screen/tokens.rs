//! Screen tokens: what a venue's TV shows the big screen with, without an organizer's login.
//! A token opens `/screen` and its event stream, nothing else (it is not a session or a
//! device credential, so every other route refuses it), and is revocable.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::{now_text, Error, Result};
use fairpos_sync::keys;

/// What a screen token starts with: told apart from sessions (`org.`) and device tokens.
const PREFIX: &str = "scr.";

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS screen_tokens (
    id         TEXT PRIMARY KEY,        -- short, printed, for revoking
    token_hash TEXT NOT NULL UNIQUE,
    label      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;
";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScreenToken {
    pub id: String,
    pub label: String,
    pub created_at: String,
    pub revoked: bool,
}

/// A new screen token labelled `label`: `(id, token)`. Only its hash is kept.
pub fn issue(conn: &Connection, label: &str) -> Result<(String, String)> {
    let (id, token, hash) = new_token();
    conn.execute(
        "INSERT INTO screen_tokens(id, token_hash, label, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, hash, label, now_text()],
    )?;
    Ok((id, token))
}

/// The secret of a screen token, if `token` is one by its form.
pub fn secret_of(token: &str) -> Option<&str> {
    token.strip_prefix(PREFIX)
}

/// A new token: `(id, token, hash kept)`.
pub fn new_token() -> (String, String, String) {
    let secret = keys::new_secret();
    let hash = keys::secret_hash(&secret);
    (hash[..8].to_string(), format!("{PREFIX}{secret}"), hash)
}

/// Why `id` cannot be revoked: no such token in use.
pub fn not_in_use(id: &str) -> Error {
    Error::input(format!(
        "no screen token {id} in use (see `fairpos hq screen-link --list`)"
    ))
}

/// Whether `token` is a screen token issued here and not revoked.
pub fn valid(conn: &Connection, token: &str) -> Result<bool> {
    let Some(secret) = secret_of(token) else {
        return Ok(false);
    };
    let revoked: Option<Option<String>> = conn
        .query_row(
            "SELECT revoked_at FROM screen_tokens WHERE token_hash = ?1",
            [keys::secret_hash(secret)],
            |r| r.get(0),
        )
        .optional()?;
    Ok(matches!(revoked, Some(None)))
}

/// Revokes the token whose id is `id`: the screens showing it stop updating, their streams
/// ended within five seconds (`screen::RECHECK`).
pub fn revoke(conn: &Connection, id: &str) -> Result<()> {
    revoke_at(conn, id, &now_text())
}

/// [`revoke`], the revocation dated `at` (a restore making again one made before).
pub fn revoke_at(conn: &Connection, id: &str, at: &str) -> Result<()> {
    let n = conn.execute(
        "UPDATE screen_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, at],
    )?;
    if n == 0 {
        return Err(not_in_use(id));
    }
    Ok(())
}

pub fn list(conn: &Connection) -> Result<Vec<ScreenToken>> {
    let mut stmt = conn.prepare(
        "SELECT id, label, created_at, revoked_at IS NOT NULL FROM screen_tokens ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ScreenToken {
            id: r.get(0)?,
            label: r.get(1)?,
            created_at: r.get(2)?,
            revoked: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_works_until_revoked_and_nothing_else_passes_for_one() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let (id, token) = issue(&conn, "hall A").unwrap();
        assert!(valid(&conn, &token).unwrap());
        assert!(!valid(&conn, "scr.0000").unwrap());
        assert!(!valid(&conn, token.trim_start_matches(PREFIX)).unwrap());
        assert!(!valid(&conn, &format!("org.{}", &token[4..])).unwrap());
        revoke(&conn, &id).unwrap();
        assert!(!valid(&conn, &token).unwrap());
        assert!(revoke(&conn, &id).unwrap_err().is_bad_input());
        assert_eq!(list(&conn).unwrap()[0].label, "hall A");
    }
}
