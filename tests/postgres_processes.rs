//! A narrated run of headquarters' projection in PostgreSQL with several processes, on the
//! real server `scripts/postgres.sh` starts: two `fairpos hq postgres project --follow`
//! processes on one database; four tills' ledgers stored as a sync stores them (a snapshot,
//! then a chunk per change, the tills interleaved) while one process is SIGKILLed at random
//! instants while the changes arrive (over about four seconds), eight times, and started
//! again each time. Afterwards the database holds every
//! record once, and its totals, by till and in the report, equal the tills' to the fen.
//! `FAIRPOS_CRASH_SEED` replays a run's kill instants.
//!
//! And a SQLite headquarters that tills synced with, copied into PostgreSQL
//! (`hq postgres copy-documents`, then `project`), or mirroring to it while it serves
//! (`hq serve --postgres-mirror`, what it lacks copied at start): every report from
//! PostgreSQL's roll-up equals the SQLite headquarters' report, to the fen.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fairpos_postgres::documents::PgStorage;
use fairpos_sync::ids::document_id;
use fairpos_sync::record::{
    Header, LineRecord, PaymentRecord, SaleRecord, ShiftOpenRecord, VoidRecord,
};
use fairpos_sync::samod::storage::{Storage, StorageKey};
use fairpos_sync::{ActorId, LedgerDoc, LedgerId, Record};
use rand::{Rng, SeedableRng};

use common::hq::{Hq, Server};
use common::morning::{t01_morning, t02_morning, three_tills_synced};
use common::postgres::fresh_database;
use common::Till;

const TILLS: usize = 4;
const SALES: u64 = 150;
const KILLS: usize = 8;

fn fairpos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fairpos"))
}

/// `fairpos hq postgres …` on `url`; its standard output.
fn hq_postgres(url: &str, args: &[&str]) -> String {
    let data = tempfile::tempdir().unwrap();
    let out = fairpos()
        .args(["--data", data.path().to_str().unwrap(), "hq", "postgres"])
        .args(args)
        .args(["--database", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hq postgres {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The follower processes, killed however the test ends.
struct Followers(Vec<Child>);

impl Drop for Followers {
    fn drop(&mut self) {
        for process in &mut self.0 {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// A following projection process, its data directory `data` (unused: everything it
/// reads and writes is in the database).
fn follower(url: &str, data: &std::path::Path) -> Child {
    fairpos()
        .args([
            "--data",
            data.to_str().unwrap(),
            "hq",
            "postgres",
            "project",
        ])
        .args(["--follow", "--database", url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn header(device: &str, seq: u64) -> Header {
    Header {
        id: format!("{device}-{seq:05}"),
        device: device.into(),
        seq,
        at: format!("2026-11-22T{:02}:{:02}:00+08:00", 9 + seq / 60, seq % 60),
    }
}

/// Till `device`'s records: a shift, `SALES` sales, every tenth one voided later.
fn till_records(device: &str) -> (Vec<Record>, i64) {
    let mut records = vec![Record::ShiftOpen(ShiftOpenRecord {
        header: header(device, 1),
        shift: format!("{device}-shift"),
        seller: "V1".into(),
        float_fen: 20_000,
    })];
    let mut net = 0;
    for n in 1..=SALES {
        let amount = 100 * (n as i64 % 17 + 1);
        let seq = records.len() as u64 + 1;
        records.push(Record::Sale(SaleRecord {
            header: header(device, seq),
            number: format!("{device}-{n:06}"),
            sale_seq: n,
            shift: format!("{device}-shift"),
            stall: "S01".into(),
            seller: "V1".into(),
            seller_name: "张三".into(),
            team: "一队".into(),
            unit: None,
            lines: vec![LineRecord {
                line: 1,
                sku: format!("P{}", n % 5),
                name_zh: "腊肉".into(),
                name_en: String::new(),
                category: "土特产".into(),
                unit: "斤".into(),
                weighed: false,
                qty: 1,
                unit_price_fen: amount,
                amount_fen: amount,
                county_code: "433125".into(),
                county_name: "保靖县".into(),
                product_stall: "S01".into(),
                supplier: "合作社".into(),
                cert_no: None,
            }],
            payments: vec![PaymentRecord {
                method: "wechat".into(),
                amount_fen: amount,
                tendered_fen: amount,
            }],
            total_fen: amount,
            change_fen: 0,
            oversold: vec![],
        }));
        net += amount;
        if n % 10 == 0 {
            let sale = format!("{device}-{seq:05}");
            let seq = records.len() as u64 + 1;
            records.push(Record::Void(VoidRecord {
                header: header(device, seq),
                sale,
                number: String::new(),
                shift: format!("{device}-shift"),
                reason: "扫错".into(),
            }));
            net -= amount;
        }
    }
    (records, net)
}

fn key(doc: &fairpos_sync::samod::DocumentId, kind: &str, name: &str) -> StorageKey {
    StorageKey::from_parts([doc.to_string(), kind.to_string(), name.to_string()]).unwrap()
}

#[test]
fn two_projection_processes_one_killed_eight_times_project_every_ledger_once() {
    let Some(url) = fresh_database("processes") else {
        return;
    };
    let seed: u64 = std::env::var("FAIRPOS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("FAIRPOS_CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    eprintln!("1. `hq postgres migrate` brings the new database to the schema");
    // A dry run first lists every migration, and applies none.
    let latest = fairpos_postgres::MIGRATIONS.len();
    let planned = hq_postgres(&url, &["migrate", "--dry-run"]);
    assert!(planned.starts_with("would apply, to the database at schema 0:\n  1: "));
    assert!(planned.contains(&format!("\n  {latest}: ")), "{planned}");
    let tables = Command::new("psql")
        .args([
            &url,
            "-Atc",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
        ])
        .output()
        .unwrap();
    let tables = String::from_utf8_lossy(&tables.stdout);
    assert_eq!(tables.trim(), "0", "the dry run made no table");
    let migrated = hq_postgres(&url, &["migrate"]);
    assert!(migrated.contains("applied migrations 1, 2"), "{migrated}");
    let planned = hq_postgres(&url, &["migrate", "--dry-run"]);
    let nothing = format!("the database is up to date (schema {latest}): nothing to apply");
    assert_eq!(planned.trim_end(), nothing);

    eprintln!("2. two projection processes follow the store");
    let data = tempfile::tempdir().unwrap();
    let mut followers = Followers(vec![
        follower(&url, data.path()),
        follower(&url, data.path()),
    ]);

    eprintln!("3. four tills sync, interleaved; the first process is killed {KILLS} times");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let storage = PgStorage::new(fairpos_postgres::connect(&url).unwrap());
    let tills: Vec<(String, Vec<Record>, i64)> = (1..=TILLS)
        .map(|t| {
            let device = format!("T{t:02}");
            let (records, net) = till_records(&device);
            (device, records, net)
        })
        .collect();
    let mut ledgers: Vec<(fairpos_sync::samod::DocumentId, LedgerDoc)> = tills
        .iter()
        .map(|(device, _, _)| {
            let id = LedgerId {
                fair: "demo".into(),
                device: device.clone(),
                day: "2026-11-22".into(),
            };
            let doc_id = document_id(&id.key());
            let (doc, _) = LedgerDoc::create(id, ActorId::random(), 0).unwrap();
            (doc_id, doc)
        })
        .collect();
    for (doc_id, doc) in &ledgers {
        runtime.block_on(storage.put(key(doc_id, "snapshot", "genesis"), doc.automerge().save()));
    }
    let longest = tills.iter().map(|t| t.1.len()).max().unwrap();
    let steps = longest * TILLS;
    let mut kill_at: Vec<usize> = (0..KILLS).map(|_| rng.random_range(1..steps)).collect();
    kill_at.sort_unstable();
    let mut step = 0;
    let mut kills = 0;
    for i in 0..longest {
        for (t, (_, records, _)) in tills.iter().enumerate() {
            step += 1;
            if let Some(record) = records.get(i) {
                let (doc_id, doc) = &mut ledgers[t];
                let change = doc.append(record, 0).unwrap();
                let name = change.hash().to_string();
                runtime.block_on(storage.put(
                    key(doc_id, "incremental", &name),
                    change.raw_bytes().to_vec(),
                ));
                // Tills sync over a few seconds, so the kills land while the processes work.
                std::thread::sleep(Duration::from_millis(4));
            }
            while kill_at.first() == Some(&step) {
                kill_at.remove(0);
                let first = &mut followers.0[0];
                first.kill().unwrap(); // SIGKILL
                first.wait().unwrap();
                kills += 1;
                *first = follower(&url, data.path());
            }
        }
    }
    assert_eq!(kills, KILLS);
    eprintln!("   {steps} changes stored, {kills} kills");

    eprintln!("4. both processes catch up; the database holds every record once");
    let total: usize = tills.iter().map(|t| t.1.len()).sum();
    let pool = fairpos_postgres::connect(&url).unwrap();
    let held = || {
        runtime.block_on(async {
            let client = pool.get().await.unwrap();
            let n: i64 = client
                .query_one("SELECT COUNT(*) FROM records", &[])
                .await
                .unwrap()
                .get(0);
            n as usize
        })
    };
    let start = Instant::now();
    while held() < total {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} of {total} records projected after a minute",
            held()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(held(), total);

    eprintln!("5. each till's sales, numbers and net equal the till's, to the fen");
    let by_till: Vec<(String, i64, i64, i64)> = runtime.block_on(async {
        let client = pool.get().await.unwrap();
        client
            .query(
                "SELECT s.device, COUNT(*), MAX(s.seq),
                        CAST(SUM(CASE WHEN v.id IS NULL THEN s.total_fen ELSE 0 END) AS BIGINT)
                 FROM sales s LEFT JOIN voids v ON v.sale_id = s.id
                 GROUP BY s.device ORDER BY s.device",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    });
    let expected: Vec<(String, i64, i64, i64)> = tills
        .iter()
        .map(|(device, _, net)| (device.clone(), SALES as i64, SALES as i64, *net))
        .collect();
    assert_eq!(by_till, expected);

    eprintln!("6. `hq postgres report` (from the roll-up) gives the fair's net to the fen");
    let report = hq_postgres(&url, &["report", "--by", "stall", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let net: i64 = tills.iter().map(|t| t.2).sum();
    assert_eq!(report["net_fen"], net, "{report}");
    assert_eq!(
        report["rows"][0]["count"],
        (TILLS as u64 * SALES * 9 / 10),
        "{report}"
    );
}

/// Each report `by` from PostgreSQL's roll-up at `url` equals `hq report`'s, and has rows.
fn assert_same_reports(hq: &Hq, url: &str, by: &[&str]) {
    for by in by {
        let sqlite = hq.json(&["hq", "report", "--by", by, "--format", "json"]);
        let postgres = hq.json(&[
            "hq",
            "postgres",
            "report",
            "--by",
            by,
            "--format",
            "json",
            "--database",
            url,
        ]);
        assert!(
            sqlite["rows"].as_array().is_some_and(|r| !r.is_empty()),
            "by {by}"
        );
        assert_eq!(postgres, sqlite, "by {by}");
    }
}

#[test]
fn a_sqlite_headquarters_copied_into_postgres_reports_the_same_to_the_fen() {
    let Some(url) = fresh_database("copied") else {
        return;
    };
    let hq = Hq::demo();
    let server = hq.serve();
    three_tills_synced(&hq, &server.url);
    server.stop();

    let copied = hq.ok(&["hq", "postgres", "copy-documents", "--database", &url]);
    assert!(copied.starts_with("copied "), "{copied}");
    let out = hq.run(&["hq", "postgres", "project", "--database", &url]);
    let (projected, said) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "{said}");
    // The fair's catalog, copied with the ledgers, is not a ledger: passed over, not refused.
    assert!(!said.contains("refused"), "{said}");
    assert!(projected.contains(" new records"), "{projected}");
    assert!(!projected.contains(": 0 new records"), "{projected}");
    assert_same_reports(
        &hq,
        &url,
        &[
            "product", "county", "unit", "team", "seller", "payment", "hour", "stall",
        ],
    );
    // Copying and projecting again changes nothing.
    hq.ok(&["hq", "postgres", "copy-documents", "--database", &url]);
    let again = hq.ok(&["hq", "postgres", "project", "--database", &url]);
    assert!(again.contains(": 0 new records"), "{again}");
    // A wrong address is bad input, said in one line.
    let out = hq.run(&[
        "hq",
        "postgres",
        "migrate",
        "--database",
        "postgres://x@127.0.0.1:notaport/x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not valid"));
}

#[test]
fn a_serving_headquarters_mirrors_its_ledgers_to_postgres_live_and_after_a_restart() {
    let Some(url) = fresh_database("mirror") else {
        return;
    };
    let hq = Hq::demo();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    // T01 syncs while no mirror runs.
    let server = Server::start(hq.data(), &["--listen", &listen]);
    let mut t1 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let mut t2 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    t01_morning(&mut t1);
    t1.synced();
    server.stop();
    // Started again with the mirror: what PostgreSQL lacks is copied at the start, and T02's
    // ledger as it syncs.
    let server = Server::start(hq.data(), &["--listen", &listen, "--postgres-mirror", &url]);
    t02_morning(&mut t2);
    t2.synced();
    server.stop();

    let projected = hq.ok(&["hq", "postgres", "project", "--database", &url]);
    assert!(!projected.contains(": 0 new records"), "{projected}");
    assert_same_reports(&hq, &url, &["county", "unit", "payment", "stall"]);
    let tills = hq.json(&["hq", "report", "--by", "stall", "--format", "json"]);
    assert_eq!(tills["rows"].as_array().unwrap().len(), 2, "{tills}");
}

/// What `hq postgres copy-documents` and a mirror's start run (`mirror::copy_all`) tells
/// how far it has got after each batch of 500 chunks, out of every chunk the database
/// lacks, and copies them all; a second copy finds none lacking and tells nothing.
#[test]
fn copying_documents_tells_how_far_it_has_got_batch_by_batch() {
    use std::sync::{Arc, Mutex};
    let Some(url) = fresh_database("copy_progress") else {
        return;
    };
    let hq = Hq::demo();
    let local = fairpos_hq::Hq::open(hq.data()).unwrap();
    let doc = document_id("demo/T01/2026-11-22");
    for n in 0..1_200 {
        let name = format!("c{n:04}");
        fairpos_sync::samod_storage::put_chunk(&local.conn, &doc, "incremental", &name, b"x")
            .unwrap();
    }
    let stored: i64 = local
        .conn
        .query_row("SELECT COUNT(*) FROM samod_kv", [], |r| r.get(0))
        .unwrap();
    let stored = stored as usize;
    let db = Arc::new(Mutex::new(local.conn));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pool = runtime
        .block_on(fairpos_postgres::connect_migrated(&url))
        .unwrap();
    let copy = || {
        let mut told = Vec::new();
        let copied = runtime.block_on(fairpos_hq::server::mirror::copy_all(
            &db,
            &pool,
            |taken, of| told.push((taken, of)),
        ));
        (copied.unwrap().0, told)
    };
    let (copied, told) = copy();
    assert_eq!(copied, stored);
    let expected: Vec<(usize, usize)> = (1..=stored.div_ceil(500))
        .map(|batch| ((batch * 500).min(stored), stored))
        .collect();
    assert_eq!(told, expected);
    let held: i64 = runtime.block_on(async {
        let client = pool.get().await.unwrap();
        let row = client.query_one("SELECT COUNT(*) FROM samod_kv", &[]).await;
        row.unwrap().get(0)
    });
    assert_eq!(held as usize, stored);
    let (copied, told) = copy();
    assert_eq!((copied, told), (0, Vec::new()));
}
