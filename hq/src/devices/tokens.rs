//! Who holds a token: an enrolled device, or a dashboard session; dashboard sessions opened
//! and ended.

use fairpos_sync::keys;
use fairpos_sync::protocol::{split_device_token, ROLE_HUB};
use rusqlite::{Connection, OptionalExtension};

use super::Peer;
use crate::accounts::{self, Account};
use crate::sessions::{self, SessionLimits};
use crate::{Error, Result};

/// What a reading connection says of a token: who holds it, or why it is refused.
pub struct Authenticated {
    pub peer: Result<Peer>,
    /// The hash of a dashboard session whose use is worth recording now (at most once a
    /// minute), for [`sessions::record_use`] on the writer after the answer.
    pub use_due: Option<String>,
}

/// Who holds `token`: an enrolled device not revoked, or a dashboard session not expired
/// under `limits` of an account that still exists. Writes nothing, so that organizers' pages
/// and tills' calls are answered on a reading connection beside the writer, which syncing
/// tills keep busy; a session's use is written afterwards, never waited for.
pub fn authenticate(conn: &Connection, token: &str, limits: &SessionLimits) -> Authenticated {
    let answered = |peer| Authenticated {
        peer,
        use_due: None,
    };
    let Some(session) = token.strip_prefix("org.") else {
        return answered(device_of(conn, token));
    };
    let hash = keys::secret_hash(session);
    match sessions::look(conn, &hash, limits) {
        Err(e) => answered(Err(e)),
        Ok(sessions::Looked::Missing | sessions::Looked::Ended) => answered(Err(refused())),
        Ok(sessions::Looked::Live {
            peer,
            account,
            stale,
        }) => {
            let peer = person(conn, peer, account);
            let use_due = (stale && peer.is_ok()).then_some(hash);
            Authenticated { peer, use_due }
        }
    }
}

/// The enrolled device, not revoked, whose token `token` is.
fn device_of(conn: &Connection, token: &str) -> Result<Peer> {
    let (device, secret) = split_device_token(token).ok_or_else(refused)?;
    let row: Option<(String, Option<String>, Option<String>)> = conn
        .query_row(
            "SELECT role, secret_hash, revoked_at FROM devices WHERE device = ?1",
            [device],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let peer = row.and_then(|(role, hash, revoked)| {
        device_peer(device, secret, &role, hash.as_deref(), revoked.is_some())
    });
    peer.ok_or_else(refused)
}

fn refused() -> Error {
    Error::input("unknown, expired or revoked credentials")
}

/// The person a live session of `session` (its peer) and account `name` is, refused when
/// the account is gone.
fn person(conn: &Connection, session: String, name: String) -> Result<Peer> {
    let access = accounts::access_of(conn, &name)?.ok_or_else(refused)?;
    Ok(Peer::Person {
        session,
        account: Account { name, access },
    })
}

/// The device a token of `device` and `secret` names, checked against the device's role,
/// the hash of its secret and whether it is revoked; `None` when the token does not hold.
pub(crate) fn device_peer(
    device: &str,
    secret: &str,
    role: &str,
    secret_hash: Option<&str>,
    revoked: bool,
) -> Option<Peer> {
    if revoked || secret_hash != Some(keys::secret_hash(secret).as_str()) {
        return None;
    }
    Some(if role == ROLE_HUB {
        Peer::Hub(device.to_string())
    } else {
        Peer::Till(device.to_string())
    })
}
/// Ends the dashboard session of `token` (nothing happens for any other token).
pub fn logout(conn: &Connection, token: &str) -> Result<()> {
    if let Some(session) = token.strip_prefix("org.") {
        conn.execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            [keys::secret_hash(session)],
        )?;
    }
    Ok(())
}

/// A new dashboard session of `account`, its password checked already: `(token, peer id)`
/// (tests; a login opens one with [`open_checked_session`]).
#[cfg(test)]
pub fn open_session(conn: &Connection, account: &Account) -> Result<(String, String)> {
    let new = NewSession::of(account);
    sessions::open(conn, &new.token_hash, &new.session, &account.name)?;
    Ok((new.token, new.peer_id))
}

/// A new dashboard session of `account` (`(token, peer id)`) for a login that checked the
/// password whose hash is `password_hash`: none if it has changed since (or the account is
/// gone), refused as a wrong password.
pub fn open_checked_session(
    conn: &Connection,
    account: &Account,
    password_hash: &str,
) -> Result<(String, String)> {
    let new = NewSession::of(account);
    let (hash, session) = (&new.token_hash, &new.session);
    if !sessions::open_if_password(conn, hash, session, &account.name, password_hash)? {
        return Err(Error::input("wrong name or password"));
    }
    Ok((new.token, new.peer_id))
}

/// A dashboard session about to be recorded: the token its holder gets, the hash kept of it,
/// its short id and the samod peer id it syncs as.
pub(crate) struct NewSession {
    pub token: String,
    pub token_hash: String,
    pub session: String,
    pub peer_id: String,
}

impl NewSession {
    pub(crate) fn of(account: &Account) -> NewSession {
        let secret = keys::new_secret();
        let token_hash = keys::secret_hash(&secret);
        let session = format!("s{}", &token_hash[..12]);
        let peer = Peer::Person {
            session: session.clone(),
            account: account.clone(),
        };
        NewSession {
            token: format!("org.{secret}"),
            token_hash,
            session,
            peer_id: peer.peer_id(),
        }
    }
}
