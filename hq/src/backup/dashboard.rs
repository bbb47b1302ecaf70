//! What a restore does to sign-ins: a backup brings back its dashboard accounts, screen
//! links, sessions and devices as they were when it was taken. A session ended since (a
//! logout, a password changed, `hq end-sessions`) would live again, so the copy's sessions
//! are all ended: everyone logs in again. A screen link or a device revoked since (a stolen
//! till, a link shown where it should not have been) would be let in again, so it is
//! revoked again in the copy, and named. A device enrolled again since (revoked, added and
//! enrolled anew: its token leaked) would be let in with its old token and its till shut
//! out, so its row and enrolment codes are carried into the copy, and named. An account
//! added, removed or given another password or role since is named for the operator to set
//! again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::Connection;

use super::Restored;
use crate::{screen, sessions, Error, Result};

/// An account as a database holds it: what changes with a role or a password.
struct Account {
    role: String,
    /// The stall a stall lead leads, or the unit's code.
    scope: Option<String>,
    password_hash: String,
}

/// The sign-ins a database holds: its accounts, screen links and devices, each read if it
/// can be.
pub(super) struct SignIns {
    /// Each account by name.
    accounts: Option<BTreeMap<String, Account>>,
    /// Each screen link by id: when it was revoked, if it is.
    links: Option<BTreeMap<String, Option<String>>>,
    /// Each device by its code.
    devices: Option<BTreeMap<String, Device>>,
}

/// A device as a database holds it: what it signs in with, and the codes that enrol it.
#[derive(Clone, PartialEq, Eq)]
struct Device {
    stall: String,
    role: String,
    /// Its secret's hash, public key, actor and when it was enrolled.
    credentials: [Option<String>; 4],
    revoked_at: Option<String>,
    /// Each of its enrolment codes: hash, when made, when used and by what actor.
    codes: BTreeSet<[Option<String>; 4]>,
}

/// The devices the database on `conn` holds, with their codes.
fn devices_of(conn: &Connection) -> rusqlite::Result<BTreeMap<String, Device>> {
    let mut stmt = conn.prepare(
        "SELECT device, stall, role, secret_hash, public_key, actor, enrolled_at, revoked_at
         FROM devices",
    )?;
    let rows = stmt.query_map([], |r| {
        let device = Device {
            stall: r.get(1)?,
            role: r.get(2)?,
            credentials: [r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?],
            revoked_at: r.get(7)?,
            codes: BTreeSet::new(),
        };
        Ok((r.get::<_, String>(0)?, device))
    })?;
    let mut devices: BTreeMap<String, Device> = rows.collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn
        .prepare("SELECT device, code_hash, created_at, used_at, used_actor FROM enroll_codes")?;
    let codes = stmt.query_map([], |r| {
        let code = [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?];
        Ok((r.get::<_, String>(0)?, code))
    })?;
    for code in codes {
        let (device, code) = code?;
        if let Some(d) = devices.get_mut(&device) {
            d.codes.insert(code);
        }
    }
    Ok(devices)
}

/// Of `replaced`'s devices, those it holds unrevoked that the restored copy holds with other
/// credentials or codes, or revoked: enrolled (or added) again since the backup, whose
/// restored row would let the old token in and shut the till out.
fn enrolled_again<'a>(
    replaced: &'a BTreeMap<String, Device>,
    restored: &BTreeMap<String, Device>,
) -> BTreeMap<&'a String, &'a Device> {
    replaced
        .iter()
        .filter(|(id, was)| {
            was.revoked_at.is_none()
                && restored.get(*id).is_some_and(|now| {
                    now.revoked_at.is_some()
                        || now.credentials != was.credentials
                        || now.codes != was.codes
                })
        })
        .collect()
}

/// The sign-ins of the database on `conn`.
pub(super) fn sign_ins_of(conn: &Connection) -> SignIns {
    let accounts = || -> rusqlite::Result<_> {
        let mut stmt = conn.prepare("SELECT name, role, scope, password_hash FROM accounts")?;
        let rows = stmt.query_map([], |r| {
            let account = Account {
                role: r.get(1)?,
                scope: r.get(2)?,
                password_hash: r.get(3)?,
            };
            Ok((r.get(0)?, account))
        })?;
        rows.collect()
    };
    let revoked = |sql: &str| -> rusqlite::Result<_> {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    };
    SignIns {
        accounts: accounts().ok(),
        links: revoked("SELECT id, revoked_at FROM screen_tokens").ok(),
        devices: devices_of(conn).ok(),
    }
}

/// Ends every dashboard session in the copy at `copy`, revokes again there the screen links
/// and (but for a `hub`'s) devices revoked since the backup, gives the devices enrolled
/// again since their rows and codes as they are now, and tells `restored` how many sessions
/// it ended, which it revoked again or carried, and how the copy's accounts differ from
/// `replaced`'s, the sign-ins of the database it replaces (unknown without one). A copy with
/// no session to end, nothing to revoke again and nothing to carry is left as it is, byte
/// for byte; one whose
/// changes are not written (closed and flushed into the file) fails the restore, before
/// anything is moved.
pub(super) fn end_sessions_and_compare(
    copy: &Path,
    replaced: Option<&SignIns>,
    hub: bool,
    restored: &mut Restored,
) -> Result<()> {
    let conn = Connection::open(copy)?;
    let has_sessions: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sessions')",
        [],
        |r| r.get(0),
    )?;
    let held: i64 = if has_sessions {
        conn.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))?
    } else {
        0
    };
    if held > 0 {
        restored.sessions_ended = sessions::end_all(&conn)?;
    }
    let copy_sign_ins = replaced.map(|_| sign_ins_of(&conn));
    let both = replaced.zip(copy_sign_ins.as_ref());
    restored.accounts_changed_since = both.and_then(|(was, now)| accounts_changed(was, now));
    let links = both.and_then(|(was, now)| let_in_again(was.links.as_ref()?, now.links.as_ref()?));
    let devices_of_both = both
        .filter(|_| !hub)
        .and_then(|(was, now)| Some((was.devices.as_ref()?, now.devices.as_ref()?)));
    let revoked = |devices: &BTreeMap<String, Device>| -> BTreeMap<String, Option<String>> {
        let at = |(id, d): (&String, &Device)| (id.clone(), d.revoked_at.clone());
        devices.iter().map(at).collect()
    };
    let devices = if hub {
        // A hub takes its devices from headquarters: none to revoke again here.
        replaced.map(|_| BTreeMap::new())
    } else {
        devices_of_both.and_then(|(was, now)| let_in_again(&revoked(was), &revoked(now)))
    };
    let enrolled = if hub {
        replaced.map(|_| BTreeMap::new())
    } else {
        devices_of_both.map(|(was, now)| enrolled_again(was, now))
    };
    let none = BTreeMap::new();
    bring_sign_ins_up_to_date(
        &conn,
        devices.as_ref().unwrap_or(&none),
        links.as_ref().unwrap_or(&none),
        enrolled.as_ref().unwrap_or(&BTreeMap::new()),
    )?;
    let ids = |revoked: BTreeMap<String, String>| revoked.into_keys().collect();
    restored.enrolled_again_since = enrolled.map(|e| e.into_keys().cloned().collect());
    restored.revoked_since = devices.map(ids);
    restored.screen_links_revoked_since = links.map(ids);
    // Closed here, its error told: what was changed must be in the file it renames.
    conn.close().map_err(|(_, e)| {
        Error::Other(format!(
            "ending the backup's sessions and revoking again (nothing was restored): {e}"
        ))
    })?;
    Ok(())
}

/// Revokes again, in the copy on `conn`, `devices` and screen `links` (each by id: when the
/// replaced database has it revoked; a device's enrolment codes go with it, as at any
/// revocation), and gives the devices `enrolled` again since the rows and codes the
/// replaced database holds, in one transaction.
fn bring_sign_ins_up_to_date(
    conn: &Connection,
    devices: &BTreeMap<String, String>,
    links: &BTreeMap<String, String>,
    enrolled: &BTreeMap<&String, &Device>,
) -> Result<()> {
    if devices.is_empty() && links.is_empty() && enrolled.is_empty() {
        return Ok(());
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    for (device, at) in devices {
        crate::devices::revoke_at(&tx, device, at)?;
    }
    for (link, at) in links {
        screen::tokens::revoke_at(&tx, link, at)?;
    }
    for (id, device) in enrolled {
        let [secret_hash, public_key, actor, enrolled_at] = &device.credentials;
        tx.execute(
            "UPDATE devices SET stall = ?2, role = ?3, secret_hash = ?4, public_key = ?5,
                    actor = ?6, enrolled_at = ?7, revoked_at = NULL
             WHERE device = ?1",
            rusqlite::params![
                id,
                device.stall,
                device.role,
                secret_hash,
                public_key,
                actor,
                enrolled_at
            ],
        )?;
        tx.execute("DELETE FROM enroll_codes WHERE device = ?1", [id])?;
        for [code_hash, created_at, used_at, used_actor] in &device.codes {
            tx.execute(
                "INSERT INTO enroll_codes (code_hash, device, created_at, used_at, used_actor)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![code_hash, id, created_at, used_at, used_actor],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Of screen links or devices (each by id: when it was revoked, if it is), those the
/// replaced database holds revoked and the restored one holds unrevoked: let in again,
/// unless revoked again. Each with when the replaced database revoked it.
fn let_in_again(
    replaced: &BTreeMap<String, Option<String>>,
    restored: &BTreeMap<String, Option<String>>,
) -> Option<BTreeMap<String, String>> {
    let let_in = |(id, at): (&String, &Option<String>)| {
        let at = at.clone()?;
        matches!(restored.get(id), Some(None)).then(|| (id.clone(), at))
    };
    Some(replaced.iter().filter_map(let_in).collect())
}

/// Each account `replaced` holds otherwise than `restored`, named with how it changed since.
fn accounts_changed(replaced: &SignIns, restored: &SignIns) -> Option<Vec<String>> {
    let (was, now) = (replaced.accounts.as_ref()?, restored.accounts.as_ref()?);
    let names: BTreeSet<&String> = was.keys().chain(now.keys()).collect();
    let changed = names.into_iter().filter_map(|name| {
        let how = match (was.get(name), now.get(name)) {
            (Some(_), None) => "added since: gone again".to_string(),
            (None, Some(_)) => "removed since: back again".to_string(),
            (Some(was), Some(now)) => {
                let role = (&was.role, &was.scope) != (&now.role, &now.scope);
                let password = was.password_hash != now.password_hash;
                match (role, password) {
                    (true, true) => "its role and password changed since: those before back",
                    (true, false) => "its role changed since: the one before back",
                    (false, true) => "its password changed since: the one before back",
                    (false, false) => return None,
                }
                .to_string()
            }
            (None, None) => return None,
        };
        Some(format!("{name} ({how})"))
    });
    Some(changed.collect())
}
