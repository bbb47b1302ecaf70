//! Enrolled devices (tills and hubs): who a connection is ([`Peer`]), revocations, and what
//! headquarters keeps of each device. Enrolment codes and enrolment are in [`enrolment`],
//! tokens and dashboard sessions in [`tokens`]. Headquarters keeps only hashes of secrets,
//! codes and session tokens.

mod enrolment;
#[cfg(test)]
mod tests;
mod tokens;

pub use enrolment::*;
pub use tokens::*;

use rusqlite::{params, Connection, OptionalExtension};

use crate::accounts::Account;
use crate::{now_text, Error, Result};

/// Who a connection or request is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    Till(String),
    Hub(String),
    /// Someone logged in to the dashboard: the session's short id and the account.
    Person {
        session: String,
        account: Account,
    },
}

impl Peer {
    /// The samod peer id a connection must claim.
    pub fn peer_id(&self) -> String {
        match self {
            Peer::Till(d) => format!("device:{d}"),
            Peer::Hub(d) => format!("hub:{d}"),
            Peer::Person { session, account } if account.access.is_organizer() => {
                format!("organizer:{session}")
            }
            Peer::Person { session, .. } => format!("account:{session}"),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Peer::Till(d) | Peer::Hub(d) => d,
            Peer::Person { account, .. } => &account.name,
        }
    }

    /// The account of a dashboard session that may see everything.
    pub fn is_organizer(&self) -> bool {
        matches!(self, Peer::Person { account, .. } if account.access.is_organizer())
    }
}

/// Shuts a device out: its token stops working and its connections are closed.
pub fn revoke(conn: &Connection, device: &str) -> Result<()> {
    revoke_at(conn, device, &now_text())
}

/// [`revoke`], the revocation dated `at` (a restore making again one made before).
pub fn revoke_at(conn: &Connection, device: &str, at: &str) -> Result<()> {
    // Its codes first: a revoked device's old code must not enrol it again.
    conn.execute("DELETE FROM enroll_codes WHERE device = ?1", [device])?;
    let n = conn.execute(
        "UPDATE devices SET revoked_at = ?2 WHERE device = ?1 AND revoked_at IS NULL",
        params![device, at],
    )?;
    if n == 0 {
        return Err(Error::input(format!("no enrolled device {device}")));
    }
    Ok(())
}

/// Whether `device`'s grants must end, as the database says now: revoked, or added again and
/// not enrolled since (a device never added counts as shut out).
pub fn shut_out(conn: &Connection, device: &str) -> Result<bool> {
    Ok(shut_out_if_known(conn, device)?.unwrap_or(true))
}

/// [`shut_out`], `None` for a device never added.
pub fn shut_out_if_known(conn: &Connection, device: &str) -> Result<Option<bool>> {
    Ok(conn
        .query_row(
            "SELECT revoked_at IS NOT NULL OR secret_hash IS NULL FROM devices WHERE device = ?1",
            [device],
            |r| r.get(0),
        )
        .optional()?)
}

/// Devices revoked so far, each with which revocation it was: when, and of which enrolment
/// (its secret's hash), so that a device revoked, enrolled again and revoked again within
/// the same second is two revocations to the share policy.
pub fn revoked(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT device, revoked_at || ' ' || ifnull(secret_hash, '') FROM devices
         WHERE revoked_at IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
/// The actor a device writes its ledgers with.
pub fn actor_of(conn: &Connection, device: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT actor FROM devices WHERE device = ?1",
            [device],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

pub fn public_key_of(conn: &Connection, device: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT public_key FROM devices WHERE device = ?1 AND revoked_at IS NULL",
            [device],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}
