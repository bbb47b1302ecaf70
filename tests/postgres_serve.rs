//! A narrated run of one headquarters served by two `fairpos hq serve` processes on one
//! PostgreSQL database (`hq init --database`), on the real server `scripts/postgres.sh`
//! starts. Two tills enrol through different processes and sell offline; round after round
//! both sync at the same moment, each through another process, while one of the two
//! processes is SIGKILLed at a random instant and started again. The run goes on until at
//! least eight kills have landed while a till's sync through the killed process was still
//! running (the instant is drawn up to a bound that shrinks after a kill that came too late
//! and grows after one that landed, as syncs get quicker or slower). Afterwards each till proves itself complete through either process, and the
//! sales PostgreSQL holds equal the tills' own, once each, to the fen.
//! `FAIRPOS_CRASH_SEED` replays a run's kill instants.

mod common;

use std::process::{Child, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};

use common::api::Api;
use common::hq::Server;
use common::postgres::fresh_database;
use common::Till;

/// Kills that must land while a sync through the killed process runs.
const KILLS_MID_SYNC: usize = 8;
/// The most rounds tried to land them.
const MOST_ROUNDS: usize = 40;

/// The latest instant after the syncs start that a kill is first drawn up to (ms).
const LATEST_KILL_MS: u64 = 250;
const SALES_PER_ROUND: usize = 25;
const ITEMS: [&str; 4] = [
    "6935780100128",
    "6935780200156*2",
    "6935780700106",
    "GZ-MJ-200",
];

fn fairpos() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_fairpos"))
}

/// `fairpos --data HQ hq …`, which must succeed; its standard output.
fn hq(data: &std::path::Path, args: &[&str]) -> String {
    let out = fairpos()
        .arg("--data")
        .arg(data)
        .arg("hq")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hq {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `n` sales of `till`, made offline (one `sell-batch`).
fn sell(till: &Till, n: usize, round: usize) {
    let batch: String = (0..n)
        .map(|i| {
            let item = ITEMS[(round * 7 + i) % ITEMS.len()];
            format!("{{\"seller\":\"V003\",\"items\":[\"{item}\"],\"pay\":[\"wechat\"]}}\n")
        })
        .collect();
    let file = till.data().join("batch.jsonl");
    std::fs::write(&file, batch).unwrap();
    till.ok(&["sell-batch", file.to_str().unwrap()]);
}

/// A `fairpos sync` of `till` through `url`, running.
fn start_sync(till: &Till, url: &str) -> Child {
    till.command()
        .args(["sync", "--timeout", "15", "--hq", url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// `(count, sum of totals)` of each device's sales in the database at `url`.
fn held_sales(url: &str) -> Vec<(String, i64, i64)> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let pool = fairpos_postgres::connect(url).unwrap();
        let client = pool.get().await.unwrap();
        let rows = client
            .query(
                "SELECT device, COUNT(*), SUM(total_fen)::BIGINT,
                        COUNT(DISTINCT id) = COUNT(*)
                 FROM sales GROUP BY device ORDER BY device",
                &[],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                assert!(r.get::<_, bool>(3), "a sale is held twice");
                (r.get(0), r.get(1), r.get(2))
            })
            .collect()
    })
}

#[test]
fn two_serve_processes_on_one_postgres_one_killed_mid_sync_lose_and_double_nothing() {
    let Some(url) = fresh_database("serve") else {
        return;
    };
    let seed: u64 = std::env::var("FAIRPOS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("FAIRPOS_CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    eprintln!("1. headquarters is set up on PostgreSQL; two tills are added there");
    let data = tempfile::tempdir().unwrap();
    let hq_dir = data.path();
    hq(
        hq_dir,
        &[
            "init",
            "--demo",
            "--organizer-password",
            common::hq::PASSWORD,
            "--database",
            &url,
        ],
    );
    let code = |device: &str, stall: &str| {
        let out = hq(
            hq_dir,
            &["add-device", "--device", device, "--stall", stall, "--json"],
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["code"].as_str().unwrap().to_string()
    };
    let (code1, code2) = (code("T01", "S01"), code("T02", "S02"));

    eprintln!("2. two `hq serve` processes on the same data directory and database");
    let mut servers = [Server::start(hq_dir, &[]), Server::start(hq_dir, &[])];

    eprintln!("3. T01 enrols through the first process, T02 through the second");
    let tills = [
        Till::enrolled(&servers[0].url, &code1),
        Till::enrolled(&servers[1].url, &code2),
    ];
    for till in &tills {
        till.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    }

    eprintln!("4. rounds: both sell offline, sync at once through different processes, and one process is killed");
    let (mut kills_mid_sync, mut rounds) = (0, 0);
    // The latest instant a kill is drawn up to, in milliseconds.
    let mut latest = LATEST_KILL_MS;
    while kills_mid_sync < KILLS_MID_SYNC {
        assert!(
            rounds < MOST_ROUNDS,
            "only {kills_mid_sync} kills landed mid-sync in {rounds} rounds"
        );
        for till in &tills {
            sell(till, SALES_PER_ROUND, rounds);
        }
        // T01 through process `rounds % 2`, T02 through the other.
        let through = [rounds % 2, 1 - rounds % 2];
        let mut syncs: Vec<Child> = tills
            .iter()
            .zip(through)
            .map(|(till, s)| start_sync(till, &servers[s].url))
            .collect();
        let victim = rng.random_range(0..2);
        std::thread::sleep(Duration::from_millis(rng.random_range(5..=latest)));
        let victim_till = through.iter().position(|&s| s == victim).unwrap();
        let mid_sync = syncs[victim_till].try_wait().unwrap().is_none();
        servers[victim].sigkill();
        servers[victim] = Server::start(hq_dir, &[]);
        if mid_sync {
            kills_mid_sync += 1;
            latest = (latest * 3 / 2).min(LATEST_KILL_MS);
        } else {
            latest = (latest / 2).max(10);
        }
        let outcomes: Vec<bool> = syncs
            .iter_mut()
            .map(|s| s.wait().unwrap().success())
            .collect();
        eprintln!(
            "   round {rounds}: process {victim} killed{}; syncs {outcomes:?}",
            if mid_sync {
                " mid-sync"
            } else {
                " after its sync"
            }
        );
        rounds += 1;
    }

    eprintln!("5. each till proves itself complete through either process");
    for till in &tills {
        for server in &servers {
            let out = till.sync(&["--hq", &server.url]);
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && said.contains("headquarters holds all"),
                "{said}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    eprintln!("6. PostgreSQL holds every sale of each till once, to the fen");
    let expected: Vec<(String, i64, i64)> = ["T01", "T02"]
        .iter()
        .zip(&tills)
        .map(|(device, till)| {
            let totals = till.sale_totals();
            let sum = totals.iter().map(|(_, t)| t).sum();
            (device.to_string(), totals.len() as i64, sum)
        })
        .collect();
    assert_eq!(
        expected[0].1,
        (rounds * SALES_PER_ROUND) as i64,
        "each round's sales were made"
    );
    assert_eq!(held_sales(&url), expected);

    eprintln!("7. an organizer logs in through one process; the session works at the other, whose report by stall equals the tills' own");
    let (token, _) = Api::new(&servers[1].url).login();
    let (status, report) = Api::new(&servers[0].url).get("/api/v1/report?by=stall", Some(&token));
    assert_eq!(status, 200, "{report}");
    let nets: Vec<(String, i64)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                r["net_fen"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut tills_nets: Vec<(String, i64)> =
        tills.iter().flat_map(|t| t.report_nets("stall")).collect();
    tills_nets.sort();
    assert_eq!(nets, tills_nets);

    eprintln!("8. `hq end-sessions` ends it for every process");
    hq(hq_dir, &["end-sessions"]);
    let (status, _) = Api::new(&servers[1].url).get("/api/v1/report?by=stall", Some(&token));
    assert_eq!(status, 401);
}

#[test]
fn two_data_directories_naming_one_database_serve_one_headquarters() {
    let Some(url) = fresh_database("directories") else {
        return;
    };
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let init = |dir: &std::path::Path| {
        let args = [
            "init",
            "--demo",
            "--organizer-password",
            common::hq::PASSWORD,
        ];
        hq(dir, &[&args[..], &["--database", &url]].concat())
    };
    let import = |dir: &std::path::Path, csv: &str| {
        let file = dir.join("import.csv");
        let rows = format!("sku,name_zh,unit,price_yuan,stock\n{csv}\n");
        std::fs::write(&file, rows).unwrap();
        hq(dir, &["catalog", "import", file.to_str().unwrap()]);
    };

    eprintln!("1. the first data directory is made the demo fair's headquarters on the database, and a price changed there");
    init(first.path());
    import(first.path(), "BJ-HJC-250,保靖黄金茶 250g,盒,118.00,40");
    let out = hq(
        first.path(),
        &["add-device", "--device", "T01", "--stall", "S01", "--json"],
    );
    let code: serde_json::Value = serde_json::from_str(&out).unwrap();

    eprintln!("   its first organizer account is replaced by a named one");
    let password = common::hq::PASSWORD;
    let zhang = [
        "user",
        "add",
        "zhang",
        "--role",
        "organizer",
        "--password",
        password,
    ];
    hq(first.path(), &zhang);
    hq(first.path(), &["user", "remove", "organizer"]);

    eprintln!("2. a second data directory made later joins it, keeping the database's catalog and accounts: no password asked for, the removed account not made again");
    let said = hq(second.path(), &["init", "--demo", "--database", &url]);
    assert!(
        said.contains("the fair's catalog and accounts there are kept"),
        "{said}"
    );
    let listed = hq(second.path(), &["user", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let names: Vec<&str> = (listed.as_array().unwrap().iter())
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["zhang"], "{listed}");
    let servers = [
        Server::start(first.path(), &[]),
        Server::start(second.path(), &[]),
    ];

    eprintln!("3. a till enrols through the second process with a code the first directory made");
    let till = Till::enrolled(&servers[1].url, code["code"].as_str().unwrap());

    eprintln!("4. imports through either directory, while serving, reach the till through either process; the later price wins, and the price changed before the second directory joined stands");
    import(second.path(), "DIR2-1,第二目录的蜂蜜,瓶,36.00,10");
    import(
        first.path(),
        "DIR2-1,第二目录的蜂蜜,瓶,38.00,10\nDIR1-1,第一目录的木耳,袋,20.00,10",
    );
    let want = [Some(11800), Some(3800), Some(2000)];
    let mut seen = [None; 3];
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(500));
        for server in &servers {
            till.synced_with(&server.url);
        }
        seen = ["BJ-HJC-250", "DIR2-1", "DIR1-1"].map(|sku| till.listed_price(sku));
        if seen == want {
            break;
        }
    }
    assert_eq!(seen, want, "every import reaches the till");

    eprintln!("5. it sells; each process reports the sale, to the fen");
    till.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    till.sell(&[
        "--seller",
        "V003",
        "BJ-HJC-250",
        "DIR2-1",
        "--pay",
        "cash:156",
    ]);
    till.synced_with(&servers[0].url);
    let token = Api::new(&servers[1].url)
        .token_of("zhang", password)
        .unwrap();
    for server in &servers {
        let (status, report) = Api::new(&server.url).get("/api/v1/report?by=stall", Some(&token));
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["rows"][0]["net_fen"], 15600, "{report}");
        assert_eq!(report["rows"][0]["label"], "湘西茶香馆", "{report}");
    }
    assert_eq!(held_sales(&url), vec![("T01".to_string(), 1, 15600)]);

    eprintln!("6. a stall renamed through the second directory, while both serve, is named so by each process");
    let file = second.path().join("stalls.csv");
    std::fs::write(&file, "id,name,team\nS01,湘西茶香馆（二号馆）,湘韵队\n").unwrap();
    hq(second.path(), &["stalls", "import", file.to_str().unwrap()]);
    for server in &servers {
        let (status, report) = Api::new(&server.url).get("/api/v1/report?by=stall", Some(&token));
        assert_eq!(status, 200, "{report}");
        assert_eq!(
            report["rows"][0]["label"], "湘西茶香馆（二号馆）",
            "{report}"
        );
    }
}

#[test]
fn the_database_may_be_named_by_fairpos_hq_database_instead_of_the_flag() {
    let Some(url) = fresh_database("by_environment") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = fairpos()
        .arg("--data")
        .arg(dir.path())
        .args([
            "hq",
            "init",
            "--demo",
            "--organizer-password",
            "organizer-pw",
        ])
        .env("FAIRPOS_HQ_DATABASE", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The data directory remembers the database, and its commands read headquarters there.
    let hq = common::hq::Hq { dir };
    assert_eq!(hq.database_url().as_deref(), Some(url.as_str()));
    let applied = common::postgres::psql_answer(&url, "SELECT COUNT(*) FROM fairpos_migrations");
    assert_eq!(applied, fairpos_postgres::MIGRATIONS.len().to_string());
    assert_eq!(hq.json(&["hq", "sales", "--json"]), serde_json::json!([]));
}

/// A database that is not this fair's to take is refused before anything is written to it:
/// another application's (its tables named), and another fair's headquarters (by `init`,
/// by `serve`, and by a SQLite headquarters' mirror, which two fairs could share).
#[test]
fn a_database_another_fair_or_application_holds_is_refused_unchanged() {
    let Some(url) = fresh_database("not_ours") else {
        return;
    };
    let psql = |sql: &str| common::postgres::psql_answer(&url, sql);
    let init = |dir: &std::path::Path, fair: Option<&std::path::Path>| {
        let mut command = fairpos();
        command
            .arg("--data")
            .arg(dir)
            .args(["hq", "init", "--database", &url]);
        command.args(["--organizer-password", common::hq::PASSWORD]);
        match fair {
            Some(file) => command.arg("--fair").arg(file),
            None => command.arg("--demo"),
        };
        command.output().unwrap()
    };
    psql("CREATE TABLE orders (id INTEGER PRIMARY KEY)");
    let dir = tempfile::tempdir().unwrap();
    let out = init(dir.path(), None);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("holds tables fairpos did not make (orders)"),
        "{said}"
    );
    let ours =
        "SELECT to_regclass('fairpos_migrations') IS NULL AND to_regclass('hq_meta') IS NULL";
    assert_eq!(psql(ours), "t", "nothing written");
    psql("DROP TABLE orders");

    // The demo fair's headquarters, then another fair's init and mirror.
    let demo = tempfile::tempdir().unwrap();
    assert!(init(demo.path(), None).status.success());
    let other = tempfile::tempdir().unwrap();
    let fair = other.path().join("fair.toml");
    let toml = std::fs::read_to_string(common::demo_file("fair.toml")).unwrap();
    std::fs::write(&fair, format!("id = \"another-fair\"\n{toml}")).unwrap();
    let out = init(&other.path().join("hq"), Some(&fair));
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("holds the headquarters of fair"), "{said}");
    let sqlite_hq = other.path().join("sqlite-hq");
    let made = fairpos()
        .arg("--data")
        .arg(&sqlite_hq)
        .args(["hq", "init", "--fair"])
        .arg(&fair)
        .args(["--organizer-password", common::hq::PASSWORD])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    // A device added there by that fair's address: refused too.
    let added = fairpos()
        .arg("--data")
        .arg(&sqlite_hq)
        .args([
            "hq",
            "add-device",
            "--device",
            "T01",
            "--stall",
            "S01",
            "--database",
            &url,
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&added.stderr);
    assert_eq!(added.status.code(), Some(2), "{said}");
    assert!(said.contains("holds the headquarters of fair"), "{said}");
    let mut serving = fairpos()
        .arg("--data")
        .arg(&sqlite_hq)
        .args([
            "hq",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--postgres-mirror",
            &url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It stops by itself; one that served on is stopped here, and fails the test.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while serving.try_wait().unwrap().is_none() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = serving.kill();
    let mirrored = serving.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&mirrored.stderr);
    assert!(!mirrored.status.success(), "{said}");
    assert!(said.contains("holds the headquarters of fair"), "{said}");
}
