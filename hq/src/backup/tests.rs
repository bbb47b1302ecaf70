//! Backups and restores of real SQLite files in temporary directories.

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::restore::restore_paced;
use super::*;
use crate::{Founding, Hq};

fn hq_in(dir: &Path, fair_toml: &str) -> Hq {
    Hq::init(
        dir,
        fair_toml,
        Founding::Hq {
            organizer_password: "organizer-pw",
        },
    )
    .unwrap()
}

fn demo_hq(dir: &Path) -> Hq {
    hq_in(dir, fairpos_domain::demo::FAIR_TOML)
}

/// A device row, so that a copy can be told from the database it was taken of.
fn add_device(hq: &Hq, device: &str) {
    hq.conn
        .execute(
            "INSERT INTO devices(device, stall, role) VALUES (?1, 'S01', 'till')",
            [device],
        )
        .unwrap();
}

fn devices_in(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT device FROM devices ORDER BY device")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.map(|r| r.unwrap()).collect()
}

fn quiet(_: Progress) {}

/// `rows` random blobs of 4 KiB in a table of their own: pages to copy.
fn add_ballast(hq: &Hq, rows: u32) {
    hq.conn
        .execute_batch(&format!(
            "CREATE TABLE ballast(b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
             INSERT INTO ballast SELECT randomblob(4096) FROM n;"
        ))
        .unwrap();
}

/// Sets the product's price in `hq`'s catalog, as `hq catalog import` does.
fn set_price(hq: &Hq, yuan: &str) {
    crate::catalog::set_demo_price(hq, "BJ-HJC-100", yuan);
}

#[test]
fn a_backup_taken_while_the_database_is_open_holds_what_was_committed_and_is_never_written_over() {
    let dir = tempfile::tempdir().unwrap();
    let hq = demo_hq(&dir.path().join("hq"));
    add_device(&hq, "T01");
    // A write not committed when the copy is taken is not in it.
    hq.conn.execute_batch("BEGIN").unwrap();
    add_device(&hq, "T02");
    let to = dir.path().join("monday.db");
    let holding = backup(&hq.dir, &to, quiet).unwrap();
    hq.conn.execute_batch("COMMIT").unwrap();

    assert_eq!(holding.role, "hq");
    assert_eq!(
        holding.fair,
        Fair::from_toml(fairpos_domain::demo::FAIR_TOML).unwrap().id
    );
    assert_eq!((holding.ledgers, holding.sales), (0, 0));
    assert_eq!(holding.bytes, std::fs::metadata(&to).unwrap().len());
    assert_eq!(devices_in(&to), ["T01"]);
    // Nothing but the copy is left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let again = backup(&hq.dir, &to, quiet).unwrap_err();
    assert!(again.is_bad_input(), "{again}");
    assert!(again.to_string().contains("never written over"), "{again}");
    assert_eq!(devices_in(&to), ["T01"], "the first copy stands");

    let nowhere = backup(&dir.path().join("none"), &dir.path().join("x.db"), quiet);
    assert!(nowhere
        .unwrap_err()
        .to_string()
        .contains("no headquarters in"));
    // Into a directory that is not there: said so, naming it (not a temporary file).
    let missing = dir.path().join("gone");
    let refused = backup(&hq.dir, &missing.join("x.db"), quiet).unwrap_err();
    assert!(refused.is_bad_input(), "{refused}");
    let told = format!("there is no directory {}", missing.display());
    assert!(refused.to_string().ends_with(&told), "{refused}");

    // A data directory whose database is not one is named.
    let damaged = tempfile::tempdir().unwrap();
    std::fs::write(damaged.path().join(HQ_DB), [0x5a; 8192]).unwrap();
    let named = Hq::open(damaged.path()).err().unwrap().to_string();
    let not_one = format!(
        "{} is not a SQLite database",
        damaged.path().join(HQ_DB).display()
    );
    assert!(named.starts_with(&not_one), "{named}");
}

#[test]
fn a_long_backup_tells_its_progress() {
    let dir = tempfile::tempdir().unwrap();
    let hq = demo_hq(dir.path());
    // About 30 MiB to copy, told of every 5 ms from the start (every second after two
    // seconds, when run): a few times at least.
    add_ballast(&hq, 7500);
    let told = Arc::new(Mutex::new(Vec::new()));
    let heard = told.clone();
    let to = dir.path().join("big.db");
    let pace = Pace {
        after: Duration::ZERO,
        every: Duration::from_millis(5),
    };
    let tell = move |progress| heard.lock().unwrap().push(progress);
    let holding = backup_paced(&hq.dir, &to, tell, pace, 256).unwrap();
    let mut told = told.lock().unwrap().clone();
    // Last, that the copy is read back whole, then written to disk.
    let bytes = holding.bytes;
    assert_eq!(told.pop(), Some(Progress::Flushing { bytes }));
    assert_eq!(told.pop(), Some(Progress::Checking { bytes }));
    assert!(!told.is_empty());
    let mut before = 0;
    for &progress in told.iter() {
        let Progress::Copied { bytes, of } = progress else {
            panic!("{told:?}");
        };
        assert!(of > 30 << 20 && of < 40 << 20, "{of}");
        // The copy is the database page for page: as large as what was to copy.
        assert_eq!(of, holding.bytes);
        assert!(bytes > before && bytes < holding.bytes, "{told:?}");
        before = bytes;
    }
}

#[test]
fn a_long_restore_tells_its_progress_and_copies_the_backup_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let hq = demo_hq(dir.path());
    add_ballast(&hq, 2000);
    let monday = dir.path().join("monday.db");
    backup(&hq.dir, &monday, quiet).unwrap();
    let told = Arc::new(Mutex::new(Vec::new()));
    let heard = told.clone();
    let tell = move |progress| heard.lock().unwrap().push(progress);
    let data = dir.path().join("new-machine");
    // Told of every 64 KiB copied.
    let restored = restore_paced(&data, &monday, tell, Pace::ALWAYS, 64 << 10).unwrap();

    let of = std::fs::metadata(&monday).unwrap().len();
    assert_eq!(restored.holding.bytes, of);
    let copies: Vec<_> = (1..=of.div_ceil(64 << 10))
        .map(|n| Progress::Copied {
            bytes: (n * (64 << 10)).min(of),
            of,
        })
        .chain([
            Progress::Checking { bytes: of },
            Progress::Flushing { bytes: of },
        ])
        .collect();
    assert_eq!(*told.lock().unwrap(), copies);
    let restored = std::fs::read(data.join(HQ_DB)).unwrap();
    assert!(
        restored == std::fs::read(&monday).unwrap(),
        "not the same bytes"
    );

    // A copy made before its first line is due is not told of; its check is.
    let told = Arc::new(Mutex::new(Vec::new()));
    let heard = told.clone();
    let tell = move |progress| heard.lock().unwrap().push(progress);
    let hour = Duration::from_secs(3600);
    let pace = Pace {
        after: hour,
        every: hour,
    };
    restore_paced(&dir.path().join("another"), &monday, tell, pace, 64 << 10).unwrap();
    let after_copy = [
        Progress::Checking { bytes: of },
        Progress::Flushing { bytes: of },
    ];
    assert_eq!(*told.lock().unwrap(), after_copy);
}

#[test]
fn syncs_committed_while_a_backup_copies_neither_restart_it_nor_reach_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let hq = demo_hq(dir.path());
    add_device(&hq, "T01");
    add_ballast(&hq, 2000);
    // Between the steps of 64 pages, another connection commits a device, as a till's
    // sync would (20 of them, so that a backup that started over would still end). Each
    // step is told of, and each is 64 pages further on: a copy that starts over at a
    // commit (one read transaction per step) is told of 64 pages again and again.
    let syncing = crate::instance::connect(dir.path()).unwrap();
    let told = Arc::new(Mutex::new(Vec::new()));
    let heard = told.clone();
    let tell = move |progress| {
        let Progress::Copied { bytes: copied, .. } = progress else {
            return;
        };
        let mut told = heard.lock().unwrap();
        if told.len() < 20 {
            let device = format!("T{:02}", told.len() + 2);
            syncing
                .execute(
                    "INSERT INTO devices(device, stall, role) VALUES (?1, 'S01', 'till')",
                    [device],
                )
                .unwrap();
        }
        told.push(copied);
    };
    let to = dir.path().join("busy.db");
    backup_paced(dir.path(), &to, tell, Pace::ALWAYS, 64).unwrap();

    let told = told.lock().unwrap();
    assert!(told.len() > 20, "{} steps", told.len());
    assert!(
        told.windows(2).all(|w| w[0] < w[1]),
        "the copy started over: {told:?}"
    );
    assert_eq!(devices_in(&to), ["T01"]);
    assert_eq!(devices_in(&dir.path().join(HQ_DB)).len(), 21);
    // The copy is one file, with no write-ahead log to look for: bytes 18 and 19 of its
    // header say a rollback journal.
    let header = std::fs::read(&to).unwrap();
    assert_eq!(header[18..20], [1, 1]);
}

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

#[test]
fn a_headquarters_on_postgresql_is_sent_to_its_tools() {
    let dir = tempfile::tempdir().unwrap();
    let hq = demo_hq(dir.path());
    crate::set_meta(&hq.conn, META_DATABASE, "postgres://hq@127.0.0.1:1/hq").unwrap();
    let e = backup(&hq.dir, &dir.path().join("x.db"), quiet).unwrap_err();
    assert!(e.is_bad_input(), "{e}");
    assert!(e.to_string().contains("pg_dump"), "{e}");
    assert!(
        !e.to_string().contains("127.0.0.1"),
        "no URL, which may hold a password: {e}"
    );
    // What the restore does itself on SQLite is told: sessions ended, revocations again.
    assert!(e.to_string().contains("hq end-sessions"), "{e}");
    assert!(e.to_string().contains("hq revoke-device"), "{e}");
}

/// Where the audit log of `hq` is broken as a chain, if it is.
fn chain_broken(hq: &Hq) -> Option<fairpos_postgres::audit::chain::Break> {
    let mut walk = crate::audit::verify::Walk::new(&[], Vec::new());
    crate::audit::verify::walk_sqlite(&hq.conn, &mut walk).unwrap();
    walk.finish().0.broken
}

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
