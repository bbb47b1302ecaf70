//! The device registry a fair hub copies from headquarters to authenticate tills with: read
//! on SQLite ([`entries`]; PostgreSQL's is `fairpos_postgres::registry`), answered to hubs
//! ([`answer`]), and applied on a hub ([`apply`]).
//!
//! Every change to the devices table draws a new random [`token`] (triggers, [`install`];
//! PostgreSQL's migration 10 the same), so that headquarters can tell the registry has not
//! changed by reading one value, not thousands of rows. A token is random rather than a
//! count so that a database restored from a backup cannot bring back a number a running
//! process has seen with other devices.

pub mod answer;

use fairpos_sync::protocol::DeviceEntry;
use rusqlite::{params, Connection};

use crate::{meta, now_text, set_meta, Result};

/// The `meta` key of the registry's token.
pub const TOKEN_KEY: &str = "registry_token";

/// The `meta` key, on a hub, of the tag headquarters gave the registry applied last.
pub const HUB_TAG_KEY: &str = "registry_tag";

/// The `meta` key, on a hub, of its own registry's token once that registry was applied:
/// the tag holds only while the token is still that one.
const HUB_TAG_TOKEN_KEY: &str = "registry_tag_token";

/// A new token, as SQL. An `UPDATE` of the row put there first (by [`install`]), not an
/// `INSERT OR REPLACE`: a trigger's conflict clause gives way to its statement's, and a
/// hub's upsert of a device would make it fail.
const NEW_TOKEN: &str = "UPDATE meta SET value = lower(hex(randomblob(16)))
    WHERE key = 'registry_token'";

/// Every column of `devices`, each of which an update draws a new token for when it changes
/// (a unit test holds it to the table).
const COLUMNS: [&str; 8] = [
    "device",
    "stall",
    "role",
    "secret_hash",
    "public_key",
    "actor",
    "enrolled_at",
    "revoked_at",
];

/// Installs the triggers that draw a new token whenever a device is added, changed or
/// removed (an update that leaves every column as it was draws none), and the first token.
/// Made once: opening writes nothing when they are there (every command opens the
/// database, some while `hq serve` writes). A build that changes a trigger gives it a new
/// name and drops the old.
pub(crate) fn install(conn: &Connection) -> Result<()> {
    let changed = COLUMNS
        .iter()
        .map(|c| format!("OLD.{c} IS NOT NEW.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    conn.execute_batch(&format!(
        "CREATE TRIGGER IF NOT EXISTS devices_registry_added AFTER INSERT ON devices
         BEGIN {NEW_TOKEN}; END;
         CREATE TRIGGER IF NOT EXISTS devices_registry_changed AFTER UPDATE ON devices
         WHEN {changed} BEGIN {NEW_TOKEN}; END;
         CREATE TRIGGER IF NOT EXISTS devices_registry_removed AFTER DELETE ON devices
         BEGIN {NEW_TOKEN}; END;"
    ))?;
    if token(conn)?.is_none() {
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value)
             VALUES ('registry_token', lower(hex(randomblob(16))))",
            [],
        )?;
    }
    Ok(())
}

/// The token of the registry as it is now: another whenever a device changed.
pub fn token(conn: &Connection) -> Result<Option<String>> {
    meta(conn, TOKEN_KEY)
}

/// Every device, for a hub to authenticate tills with.
pub fn entries(conn: &Connection) -> Result<Vec<DeviceEntry>> {
    let mut stmt = conn.prepare(
        "SELECT device, stall, role, secret_hash, public_key, actor, revoked_at IS NOT NULL
         FROM devices ORDER BY device",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(DeviceEntry {
            device: r.get(0)?,
            stall: r.get(1)?,
            role: r.get(2)?,
            secret_hash: r.get(3)?,
            public_key: r.get(4)?,
            actor: r.get(5)?,
            revoked: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A hub takes headquarters' registry (every device it holds) as its own, in one
/// transaction with `tag` (what
/// headquarters tagged it with, if anything), so that a hub restarted asks with the tag of
/// the registry it holds.
pub fn apply(conn: &Connection, entries: &[DeviceEntry], tag: Option<&str>) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO devices(device, stall, role, secret_hash, public_key, actor, enrolled_at,
                                 revoked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(device) DO UPDATE SET stall = excluded.stall, role = excluded.role,
                 secret_hash = excluded.secret_hash, public_key = excluded.public_key,
                 actor = excluded.actor,
                 revoked_at = CASE WHEN excluded.revoked_at IS NULL THEN NULL
                                   ELSE COALESCE(devices.revoked_at, excluded.revoked_at) END",
        )?;
        let now = now_text();
        for e in entries {
            let at = Some(now.as_str());
            upsert.execute(params![
                e.device,
                e.stall,
                e.role,
                e.secret_hash,
                e.public_key,
                e.actor,
                at.filter(|_| e.secret_hash.is_some()),
                at.filter(|_| e.revoked)
            ])?;
        }
        // A device headquarters no longer holds (a restore from before its enrolment) is
        // shut out here too: kept, it synced through the hub, confirmed by the hub, while
        // headquarters refused each of its ledgers. Held again later, it is let in again.
        let names: Vec<&str> = entries.iter().map(|e| e.device.as_str()).collect();
        let names = serde_json::to_string(&names)
            .map_err(|e| crate::Error::Other(format!("the registry's devices: {e}")))?;
        tx.execute(
            "UPDATE devices SET revoked_at = ?1
             WHERE revoked_at IS NULL AND device NOT IN (SELECT value FROM json_each(?2))",
            params![now, names],
        )?;
    }
    // The devices as applied have the token the upserts left: a device changed here since
    // (by hand, or an older build) draws another, and the tag is no longer sent.
    let applied = token(&tx)?;
    match (tag, applied) {
        (Some(tag), Some(applied)) => {
            set_meta(&tx, HUB_TAG_KEY, tag)?;
            set_meta(&tx, HUB_TAG_TOKEN_KEY, &applied)?;
        }
        _ => {
            tx.execute(
                "DELETE FROM meta WHERE key IN (?1, ?2)",
                [HUB_TAG_KEY, HUB_TAG_TOKEN_KEY],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The tag of the registry a hub applied last, if headquarters gave one and the hub's
/// devices are still as that registry left them.
pub fn applied_tag(conn: &Connection) -> Result<Option<String>> {
    let (tag, applied) = (meta(conn, HUB_TAG_KEY)?, meta(conn, HUB_TAG_TOKEN_KEY)?);
    let now = token(conn)?;
    Ok(tag.filter(|_| applied.is_some() && applied == now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Founding, Hq};

    fn entry(device: &str, revoked: bool) -> DeviceEntry {
        DeviceEntry {
            device: device.into(),
            stall: "S01".into(),
            role: "till".into(),
            secret_hash: Some("hash".into()),
            public_key: None,
            actor: None,
            revoked,
        }
    }

    fn founded(dir: &std::path::Path) -> Hq {
        let organizer_password = "organizer-pw";
        Hq::init(
            dir,
            fairpos_domain::demo::FAIR_TOML,
            Founding::Hq { organizer_password },
        )
        .unwrap()
    }

    #[test]
    fn the_token_changes_with_every_device_changed_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let hq = founded(dir.path());
        let conn = &hq.conn;
        let first = token(conn).unwrap().expect("a token from the start");
        conn.execute(
            "INSERT INTO devices(device, stall, role) VALUES ('T01', 'S01', 'till')",
            [],
        )
        .unwrap();
        let added = token(conn).unwrap().unwrap();
        assert_ne!(added, first, "a device added");
        conn.execute("UPDATE devices SET stall = 'S01' WHERE device = 'T01'", [])
            .unwrap();
        assert_eq!(token(conn).unwrap().unwrap(), added, "nothing changed");
        conn.execute(
            "UPDATE devices SET revoked_at = '2026-12-05' WHERE device = 'T01'",
            [],
        )
        .unwrap();
        let revoked = token(conn).unwrap().unwrap();
        assert_ne!(revoked, added, "a device revoked");
        conn.execute("DELETE FROM devices WHERE device = 'T01'", [])
            .unwrap();
        let removed = token(conn).unwrap();
        assert_ne!(
            removed.as_deref(),
            Some(revoked.as_str()),
            "a device removed"
        );
        drop(hq);
        let again = Hq::open(dir.path()).unwrap();
        assert_eq!(
            token(&again.conn).unwrap(),
            removed,
            "kept when opened again"
        );
    }

    /// A device headquarters' registry no longer lists (a restore from before its
    /// enrolment) is shut out at the hub, and let in again once listed.
    #[test]
    fn a_device_headquarters_no_longer_holds_is_shut_out_at_the_hub() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Hq::test_hub(dir.path());
        let out = |device: &str| crate::devices::shut_out(&hub.conn, device).unwrap();
        apply(&hub.conn, &[entry("T01", false), entry("T02", false)], None).unwrap();
        assert!(!out("T01") && !out("T02"));
        apply(&hub.conn, &[entry("T01", false)], None).unwrap();
        assert!(!out("T01") && out("T02"), "T02 no longer held");
        apply(&hub.conn, &[entry("T01", false), entry("T02", false)], None).unwrap();
        assert!(!out("T02"), "held again");
    }

    #[test]
    fn a_hub_keeps_the_tag_of_the_registry_it_applied_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let hq = founded(dir.path());
        let conn = &hq.conn;
        apply(conn, &[entry("T01", false)], Some("\"a\"")).unwrap();
        assert_eq!(applied_tag(conn).unwrap().as_deref(), Some("\"a\""));
        apply(conn, &[entry("T01", true)], None).unwrap();
        assert_eq!(applied_tag(conn).unwrap(), None, "an untagged registry");
        assert!(entries(conn).unwrap()[0].revoked);

        // A failed apply leaves the devices and the tag as they were.
        apply(conn, &[entry("T01", true)], Some("\"b\"")).unwrap();
        let bad = DeviceEntry {
            role: String::new(),
            ..entry("T02", false)
        };
        let before = entries(conn).unwrap().len();
        conn.execute_batch(
            "CREATE TRIGGER no_empty_role BEFORE INSERT ON devices WHEN NEW.role = ''
             BEGIN SELECT RAISE(ABORT, 'empty role'); END;",
        )
        .unwrap();
        let failed = apply(conn, &[entry("T03", false), bad], Some("\"c\""));
        assert!(failed.is_err());
        assert_eq!(entries(conn).unwrap().len(), before, "all or nothing");
        assert_eq!(
            applied_tag(conn).unwrap().as_deref(),
            Some("\"b\""),
            "the tag with it"
        );

        // A device changed on the hub since: the tag no longer stands for its devices.
        conn.execute("UPDATE devices SET stall = 'S02' WHERE device = 'T01'", [])
            .unwrap();
        assert_eq!(applied_tag(conn).unwrap(), None, "a device changed here");
    }

    #[test]
    fn the_triggers_watch_every_column_of_the_devices_table() {
        let dir = tempfile::tempdir().unwrap();
        let hq = founded(dir.path());
        let mut stmt = hq
            .conn
            .prepare("SELECT name FROM pragma_table_info('devices')")
            .unwrap();
        let columns: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(columns, COLUMNS);
    }
}
