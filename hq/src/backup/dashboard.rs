//! What a restore does to the dashboard's sign-ins: a backup brings back its accounts,
//! screen links and sessions as they were when it was taken. A session ended since (a
//! logout, a password changed, `hq end-sessions`) would live again, so the copy's sessions
//! are all ended: everyone logs in again. An account added, removed or given another
//! password or role since, and a screen link revoked since, are named for the operator to
//! set again, as the devices revoked since are.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::Connection;

use crate::{sessions, Result};

/// The dashboard's accounts and screen links as a database holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Dashboard {
    /// Each account by name: its role, scope (a stall or a unit) and password hash.
    accounts: BTreeMap<String, (String, Option<String>, String)>,
    /// Each screen link by id: whether it is revoked.
    links: BTreeMap<String, bool>,
}

/// The dashboard of the database on `conn`.
pub(super) fn dashboard_of(conn: &Connection) -> Result<Dashboard> {
    let mut stmt = conn.prepare("SELECT name, role, scope, password_hash FROM accounts")?;
    let accounts = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare("SELECT id, revoked_at IS NOT NULL FROM screen_tokens")?;
    let links = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Dashboard { accounts, links })
}

/// What [`settle`] did to a restore's copy, and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Settled {
    /// The copy's dashboard sessions, all ended.
    pub sessions_ended: usize,
    /// Accounts the replaced database held otherwise than the copy, each with how; `None`
    /// when there was no database replaced, or its dashboard did not read.
    pub accounts_changed_since: Option<Vec<String>>,
    /// Screen links the replaced database held revoked and the copy holds unrevoked.
    pub screen_links_revoked_since: Option<Vec<String>>,
}

/// Ends every dashboard session in the copy at `copy`, and tells how its accounts and
/// screen links differ from `replaced`'s, the dashboard of the database it replaces.
/// A copy with no session is left as it is, byte for byte.
pub(super) fn settle(copy: &Path, replaced: Option<&Dashboard>) -> Result<Settled> {
    let conn = Connection::open(copy)?;
    // A database from before sessions were kept holds none.
    let held: i64 = conn
        .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
        .unwrap_or(0);
    let sessions_ended = if held > 0 {
        sessions::end_all(&conn)?
    } else {
        0
    };
    let restored = replaced.and_then(|_| dashboard_of(&conn).ok());
    let (accounts, links) = match (replaced, restored) {
        (Some(replaced), Some(restored)) => (
            Some(accounts_changed(replaced, &restored)),
            Some(links_revoked(replaced, &restored)),
        ),
        _ => (None, None),
    };
    Ok(Settled {
        sessions_ended,
        accounts_changed_since: accounts,
        screen_links_revoked_since: links,
    })
}

/// The screen links `since` holds revoked and `restored` unrevoked: let in again.
fn links_revoked(since: &Dashboard, restored: &Dashboard) -> Vec<String> {
    let revoked = |d: &Dashboard, id: &String| d.links.get(id).copied();
    since
        .links
        .keys()
        .filter(|id| revoked(since, id) == Some(true) && revoked(restored, id) == Some(false))
        .cloned()
        .collect()
}

/// Each account `since` holds otherwise than `restored`, named with how it changed since.
fn accounts_changed(since: &Dashboard, restored: &Dashboard) -> Vec<String> {
    let names: BTreeSet<&String> = since
        .accounts
        .keys()
        .chain(restored.accounts.keys())
        .collect();
    names
        .into_iter()
        .filter_map(|name| {
            let how = match (since.accounts.get(name), restored.accounts.get(name)) {
                (Some(_), None) => "added since: gone again",
                (None, Some(_)) => "removed since: back again",
                (Some((role, scope, _)), Some((was_role, was_scope, _)))
                    if (role, scope) != (was_role, was_scope) =>
                {
                    "its role changed since: the one before back"
                }
                (Some((.., hash)), Some((.., was_hash))) if hash != was_hash => {
                    "its password changed since: the one before back"
                }
                _ => return None,
            };
            Some(format!("{name} ({how})"))
        })
        .collect()
}
