//! `hq restore`: over a stopped headquarters, as root, over a damaged database, onto a new
//! machine, from another headquarters of the fair, and what is no backup of it.

use super::*;

#[test]
fn a_restore_waits_for_headquarters_to_stop_then_keeps_what_it_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let hq = demo_hq(&dir.path().join("hq"));
    add_device(&hq, "T01");
    crate::audit::record(&hq.conn, "alice", "local", "add-device", "T01").unwrap();
    let monday = dir.path().join("monday.db");
    backup(&hq.dir, &monday, quiet).unwrap();
    // Since the backup: T02 added, T01 revoked, a price changed (and sent to the tills),
    // and that written in the audit log.
    add_device(&hq, "T02");
    crate::audit::record(&hq.conn, "alice", "local", "add-device", "T02").unwrap();
    crate::audit::record(&hq.conn, "alice", "local", "revoke-device", "T01").unwrap();
    let logged = crate::audit::entries(&hq.conn, None).unwrap();
    hq.conn
        .execute(
            "UPDATE devices SET revoked_at = 'now' WHERE device = 'T01'",
            [],
        )
        .unwrap();
    let price_of = |hq: &Hq| -> i64 {
        hq.conn
            .query_row(
                "SELECT price_fen FROM products WHERE sku = 'BJ-HJC-100'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    set_price(&hq, "11.00");
    assert_eq!(price_of(&hq), 1100);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::Permissions::from_mode(0o640);
    std::fs::set_permissions(hq.dir.join(HQ_DB), mode).unwrap();

    // Open in another connection, as a serving process holds it: refused, nothing moved.
    let refused = restore(&hq.dir, &monday, quiet).unwrap_err();
    assert!(refused.is_bad_input(), "{refused}");
    assert!(
        refused.to_string().contains("stop `hq serve` first"),
        "{refused}"
    );
    let data = hq.dir.clone();
    assert_eq!(devices_in(&data.join(HQ_DB)), ["T01", "T02"]);

    drop(hq);
    let restored = restore(&data, &monday, quiet).unwrap();
    assert_eq!(devices_in(&data.join(HQ_DB)), ["T01"]);
    let kept = restored.replaced_kept_as.clone().unwrap();
    assert!(kept.starts_with(&data), "{kept:?}");
    assert_eq!(devices_in(&kept), ["T01", "T02"], "nothing of it is lost");
    assert!(!data.join("hq.db-wal").exists());
    // T01, revoked since, is not let in again by the backup: revoked again, and told.
    assert_eq!(restored.revoked_since, Some(vec!["T01".to_string()]));
    // T02, added since, is not in the backup: told to add it again.
    assert_eq!(restored.warnings.len(), 1, "{:?}", restored.warnings);
    assert!(
        restored.warnings[0].starts_with("1 devices added since the backup are not in it (T02)"),
        "{:?}",
        restored.warnings
    );
    assert!(restored.catalog_changes_merged >= 1, "{restored:?}");
    let restored_hq = Hq::open(&data).unwrap();
    assert!(crate::devices::shut_out(&restored_hq.conn, "T01").unwrap());
    // Dated as it was first revoked (`now`, as this test wrote it), not at the restore.
    let revoked = crate::devices::revoked(&restored_hq.conn).unwrap();
    assert_eq!(revoked, [("T01".to_string(), "now ".to_string())]);
    // The audit log is not undone: the backup's entry and the two after it, as they were.
    assert_eq!(restored.audit_entries_kept, 2);
    assert_eq!(
        crate::audit::entries(&restored_hq.conn, None).unwrap(),
        logged
    );
    assert_eq!(chain_broken(&restored_hq), None);
    assert_eq!(restored_hq.role, crate::Role::Hq);
    assert_eq!(price_of(&restored_hq), 1100);
    let mode = std::fs::metadata(data.join(HQ_DB))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);

    // Its own database, or one in use, is no backup; nor is a hub's.
    let own = restore(&data, &data.join(HQ_DB), quiet).unwrap_err();
    assert!(own.to_string().contains("own database"), "{own}");
    drop(restored_hq);
    let live = Connection::open(data.join(HQ_DB)).unwrap();
    live.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                        CREATE TABLE scratch(x); INSERT INTO scratch VALUES (1);",
    )
    .unwrap();
    let copied_live = dir.path().join("live.db");
    std::fs::copy(data.join(HQ_DB), &copied_live).unwrap();
    std::fs::copy(data.join("hq.db-wal"), dir.path().join("live.db-wal")).unwrap();
    drop(live);
    let in_use = restore(&data, &copied_live, quiet).unwrap_err();
    assert!(
        in_use.to_string().contains("write-ahead log is beside it"),
        "{in_use}"
    );
    let hub = Hq::init(
        &dir.path().join("hub"),
        fairpos_domain::demo::FAIR_TOML,
        Founding::Hub {
            device: "H1",
            upstream: "http://127.0.0.1:1",
        },
    )
    .unwrap();
    let hubs = dir.path().join("hub.db");
    backup(&hub.dir, &hubs, quiet).unwrap();
    let not_ours = restore(&data, &hubs, quiet).unwrap_err();
    assert!(not_ours.to_string().contains("is of a hub"), "{not_ours}");
}

/// `hq restore` is often run as root on a database `hq serve` opens as its own user: the copy
/// must be that user's too. Runs as root only (as CI and `scripts/test.sh` do), the one user
/// who may give a file to another.
#[test]
fn a_restore_run_as_root_gives_the_copy_the_owner_of_the_database_it_replaces() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let me = std::fs::metadata(dir.path()).unwrap().uid();
    if me != 0 {
        eprintln!("not root (uid {me}): a file cannot be given to another user, skipped");
        return;
    }
    let hq = demo_hq(&dir.path().join("hq"));
    let monday = dir.path().join("monday.db");
    backup(&hq.dir, &monday, quiet).unwrap();
    let data = hq.dir.clone();
    drop(hq);
    // `nobody`, as a service user would be.
    std::os::unix::fs::chown(data.join(HQ_DB), Some(65534), Some(65534)).unwrap();
    let restored = restore(&data, &monday, quiet).unwrap();
    assert!(restored.warnings.is_empty(), "{:?}", restored.warnings);
    let copy = std::fs::metadata(data.join(HQ_DB)).unwrap();
    assert_eq!((copy.uid(), copy.gid()), (65534, 65534));
    let kept = std::fs::metadata(restored.replaced_kept_as.unwrap()).unwrap();
    assert_eq!(kept.uid(), 65534, "the replaced file keeps its owner");
}

#[test]
fn a_damaged_database_is_replaced_when_no_write_ahead_log_is_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let hq = demo_hq(&dir.path().join("hq"));
    add_device(&hq, "T01");
    let monday = dir.path().join("monday.db");
    backup(&hq.dir, &monday, quiet).unwrap();
    let data = hq.dir.clone();
    drop(hq);
    let damaged = b"SQLite format 3\0 and then nothing a database would hold".repeat(80);
    std::fs::write(data.join(HQ_DB), &damaged).unwrap();

    // A log beside it may be a server's still running on it: the operator is asked.
    std::fs::write(data.join("hq.db-wal"), b"").unwrap();
    let refused = restore(&data, &monday, quiet).unwrap_err();
    assert!(refused.to_string().contains("cannot be read"), "{refused}");
    assert!(refused
        .to_string()
        .contains("move hq.db, hq.db-wal and hq.db-shm aside"));
    std::fs::remove_file(data.join("hq.db-wal")).unwrap();

    // Twice, the second keeping what the first put in place beside the damaged file.
    let first = restore(&data, &monday, quiet)
        .unwrap()
        .replaced_kept_as
        .unwrap();
    let second = restore(&data, &monday, quiet)
        .unwrap()
        .replaced_kept_as
        .unwrap();
    assert_ne!(first, second);
    assert_eq!(std::fs::read(&first).unwrap(), damaged, "kept as it was");
    assert_eq!(devices_in(&second), ["T01"]);
    assert_eq!(devices_in(&data.join(HQ_DB)), ["T01"]);
}

#[test]
fn a_restore_onto_a_new_machine_needs_no_headquarters_there() {
    let dir = tempfile::tempdir().unwrap();
    let hq = demo_hq(&dir.path().join("hq"));
    add_device(&hq, "T01");
    let monday = dir.path().join("monday.db");
    backup(&hq.dir, &monday, quiet).unwrap();
    let new_machine = dir.path().join("new");
    // A log left where the database was moved away from would be replayed into the copy.
    std::fs::create_dir_all(&new_machine).unwrap();
    std::fs::write(new_machine.join("hq.db-wal"), b"a log").unwrap();
    let refused = restore(&new_machine, &monday, quiet).unwrap_err();
    assert!(
        refused.to_string().contains("left without its database"),
        "{refused}"
    );
    std::fs::remove_file(new_machine.join("hq.db-wal")).unwrap();
    let restored = restore(&new_machine, &monday, quiet).unwrap();
    assert_eq!(
        restored.revoked_since, None,
        "not known without the database replaced"
    );
    assert_eq!(restored.replaced_kept_as, None);
    assert_eq!(devices_in(&new_machine.join(HQ_DB)), ["T01"]);
}

#[test]
fn the_catalog_of_another_headquarters_of_the_fair_is_not_merged_in_and_its_audit_log_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo_hq(&dir.path().join("first"));
    set_price(&first, "11.00");
    crate::audit::record(&first.conn, "alice", "local", "catalog import", "a.csv").unwrap();
    let monday = dir.path().join("monday.db");
    backup(&first.dir, &monday, quiet).unwrap();
    // Set up again after a loss, then restored over: its catalog is not the backup's grown,
    // and its audit log, numbered from 1 as the backup's is, does not continue the backup's.
    let again = demo_hq(&dir.path().join("again"));
    set_price(&again, "22.00");
    crate::audit::record(&again.conn, "bob", "local", "init", "the demo fair").unwrap();
    crate::audit::record(&again.conn, "bob", "local", "catalog import", "b.csv").unwrap();
    let data = again.dir.clone();
    drop(again);
    let restored = restore(&data, &monday, quiet).unwrap();
    assert_eq!(restored.catalog_changes_merged, 0);
    assert_eq!(restored.warnings.len(), 2, "{:?}", restored.warnings);
    let warned = |about: &str| restored.warnings.iter().any(|w| w.contains(about));
    assert!(warned("does not descend"), "{:?}", restored.warnings);
    assert!(
        warned("does not continue the backup's"),
        "{:?}",
        restored.warnings
    );
    assert_eq!(restored.audit_entries_kept, 2);
    let log = crate::audit::entries(&Hq::open(&data).unwrap().conn, None).unwrap();
    let actors: Vec<&str> = log.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors, ["alice", "bob", "bob"]);
    // Carried into the restored log, linked to its entries: one chain.
    assert_eq!(chain_broken(&Hq::open(&data).unwrap()), None);
    assert_eq!(
        crate::catalog::load(&Hq::open(&data).unwrap())
            .unwrap()
            .automerge()
            .get_heads(),
        crate::catalog::load(&first)
            .unwrap()
            .automerge()
            .get_heads(),
        "the backup's catalog, as it was"
    );
}

#[test]
fn a_restore_refuses_what_is_not_a_backup_of_this_fair() {
    let dir = tempfile::tempdir().unwrap();
    let hq = demo_hq(&dir.path().join("hq"));
    let data = hq.dir.clone();
    drop(hq);
    let refused = |from: &Path, needle: &str| {
        let e = restore(&data, from, quiet).unwrap_err();
        assert!(e.is_bad_input(), "{e}");
        assert!(e.to_string().contains(needle), "{needle}: {e}");
        assert!(Hq::open(&data).is_ok(), "headquarters is left as it was");
    };
    refused(&dir.path().join("missing.db"), "is not a backup");
    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "not a database at all, only some words to fill a page",
    )
    .unwrap();
    refused(&text, "is not a backup");
    let till_like = dir.path().join("other.db");
    Connection::open(&till_like)
        .unwrap()
        .execute_batch("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)")
        .unwrap();
    refused(&till_like, "is not a backup");

    let other_fair = fairpos_domain::demo::FAIR_TOML.replacen("name = \"", "name = \"Other ", 1);
    assert_ne!(other_fair, fairpos_domain::demo::FAIR_TOML);
    let other = hq_in(&dir.path().join("other"), &other_fair);
    let theirs = dir.path().join("theirs.db");
    backup(&other.dir, &theirs, quiet).unwrap();
    refused(&theirs, "restore it into a new --data directory");
}
