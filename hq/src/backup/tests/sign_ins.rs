//! What a restore does to sign-ins: sessions ended, accounts and links changed since named,
//! devices enrolled again since kept as they are enrolled now.

use super::*;

#[test]
fn a_restore_ends_the_backups_sessions_and_names_the_accounts_and_links_changed_since() {
    use crate::accounts::{self, Access};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hq");
    let mut hq = demo_hq(&data);
    let organizer = Access::Organizer;
    accounts::add(&hq.conn, "treasurer", &organizer, "treasurer-password-1").unwrap();
    accounts::add(&hq.conn, "retired", &organizer, "retired-password-1").unwrap();
    accounts::add(&hq.conn, "auditor", &organizer, "auditor-password-1").unwrap();
    let (link, _) = crate::screen::tokens::issue(&hq.conn, "hall TV").unwrap();
    crate::sessions::open(&hq.conn, "a-session", "organizer:1", "organizer").unwrap();
    let monday = dir.path().join("monday.db");
    backup(&hq.dir, &monday, quiet).unwrap();

    // Since the backup: a password changed, an account added and one removed, the screen
    // link revoked.
    accounts::set_password(&hq.conn, "treasurer", "treasurer-password-2").unwrap();
    accounts::add(&hq.conn, "second", &organizer, "second-password-1").unwrap();
    accounts::remove(&mut hq.conn, "retired").unwrap();
    // Another role and another password at once (a compromised account): both named.
    accounts::remove(&mut hq.conn, "auditor").unwrap();
    let unit = Access::Unit("91430000MA4L0ABC1X".into());
    hq.conn
        .execute(
            "INSERT INTO accounts(name, role, scope, password_hash, created_at)
             VALUES ('auditor', ?1, ?2, 'another hash', '2026-12-06T00:00:00Z')",
            rusqlite::params![unit.role(), unit.scope()],
        )
        .unwrap();
    crate::screen::tokens::revoke(&hq.conn, &link).unwrap();
    // A link issued and revoked since is not in the backup: not named.
    let (later, _) = crate::screen::tokens::issue(&hq.conn, "lobby TV").unwrap();
    crate::screen::tokens::revoke(&hq.conn, &later).unwrap();
    drop(hq);
    let restored = restore(&data, &monday, quiet).unwrap();

    assert_eq!(restored.sessions_ended, 1);
    let changed = [
        "auditor (its role and password changed since: those before back)",
        "retired (removed since: back again)",
        "second (added since: gone again)",
        "treasurer (its password changed since: the one before back)",
    ];
    let changed: Vec<String> = changed.map(String::from).into();
    assert_eq!(restored.accounts_changed_since, Some(changed));
    assert_eq!(
        restored.screen_links_revoked_since,
        Some(vec![link.clone()])
    );
    // No session lives again; the backup's four accounts are back; the link revoked since is
    // revoked again.
    let conn = Hq::open(&data).unwrap().conn;
    let links = crate::screen::tokens::list(&conn).unwrap();
    let revoked: Vec<(&str, bool)> = links.iter().map(|l| (l.id.as_str(), l.revoked)).collect();
    assert!(revoked.contains(&(link.as_str(), true)), "{revoked:?}");
    let count = |table: &str| -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        conn.query_row(&sql, [], |r| r.get(0)).unwrap()
    };
    assert_eq!((count("sessions"), count("accounts")), (0, 4));

    // Onto a new machine: the sessions ended, nothing else known.
    let elsewhere = restore(&dir.path().join("new-machine"), &monday, quiet).unwrap();
    assert_eq!(elsewhere.sessions_ended, 1);
    assert_eq!(elsewhere.accounts_changed_since, None);
}

/// A till enrolled again since the backup (its token leaked: revoked, added and enrolled
/// anew) keeps its new token after a restore, and the leaked one stays refused: the backup's
/// row held the old secret good and the new one not, which no revocation named. So do a
/// till revoked before the backup and enrolled again since (not told to be added again,
/// which threw its carried row away), and one added before the backup and enrolled after
/// (the backup's unused code enrolled whoever held it in its place).
#[test]
fn a_restore_keeps_a_device_enrolled_again_since_as_it_is_enrolled_now() {
    use crate::devices;
    use crate::sessions::SessionLimits;
    let dir = tempfile::tempdir().unwrap();
    let hq = demo_hq(&dir.path().join("hq"));
    let actor = fairpos_sync::ActorId::random().to_hex_string();
    let enrol = |hq: &Hq, device: &str| {
        let code = devices::add_device(hq, device, "S01", false).unwrap();
        devices::enroll(&hq.conn, &code, &actor, None, Some("till"), None).unwrap()
    };
    let leaked = enrol(&hq, "T01");
    enrol(&hq, "T03");
    devices::revoke(&hq.conn, "T03").unwrap();
    let t05_code = devices::add_device(&hq, "T05", "S01", false).unwrap();
    let monday = dir.path().join("monday.db");
    backup(&hq.dir, &monday, quiet).unwrap();
    devices::revoke(&hq.conn, "T01").unwrap();
    let now = enrol(&hq, "T01");
    let t03 = enrol(&hq, "T03");
    let t05 = devices::enroll(&hq.conn, &t05_code, &actor, None, Some("till"), None).unwrap();
    let data = hq.dir.clone();
    drop(hq);

    let restored = restore(&data, &monday, quiet).unwrap();
    let carried = ["T01", "T03", "T05"].map(String::from).to_vec();
    assert_eq!(restored.enrolled_again_since, Some(carried.clone()));
    assert_eq!(restored.revoked_since, Some(vec![]), "not revoked now");
    assert_eq!(
        restored.warnings,
        Vec::<String>::new(),
        "T03 is no device added since"
    );
    let hq = Hq::open(&data).unwrap();
    let holds = |device: &str, grant: &devices::Grant| {
        let token = fairpos_sync::protocol::device_token(device, &grant.secret);
        let limits = SessionLimits::default();
        devices::authenticate(&hq.conn, &token, &limits)
            .peer
            .is_ok()
    };
    assert!(holds("T01", &now), "the till's token");
    assert!(!holds("T01", &leaked), "the leaked token");
    assert!(holds("T03", &t03) && holds("T05", &t05));
    // Their codes are as they are now: every one used (T05's was unused in the backup).
    let unused: i64 = hq
        .conn
        .query_row(
            "SELECT COUNT(*) FROM enroll_codes WHERE used_at IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unused, 0);

    // Restored again onto what it is now: the backup still holds the old rows, carried again.
    drop(hq);
    let twice = restore(&data, &monday, quiet).unwrap();
    assert_eq!(twice.enrolled_again_since, Some(carried));
    let hq = Hq::open(&data).unwrap();
    let token = fairpos_sync::protocol::device_token("T01", &now.secret);
    let limits = SessionLimits::default();
    assert!(devices::authenticate(&hq.conn, &token, &limits)
        .peer
        .is_ok());
}
