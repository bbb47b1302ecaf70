//! Backups of real SQLite files in temporary directories, and the helpers the restores'
//! tests share (`restore.rs`, `sign_ins.rs`).

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::restore::restore_paced;
use super::*;
use crate::{Founding, Hq};

mod restore;
mod sign_ins;

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
