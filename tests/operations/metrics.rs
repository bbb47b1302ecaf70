//! What a monitoring system scrapes from `--metrics-listen`, on both backends, against what a
//! till's sync and an organizer's requests did, and the projection's backlog once a ledger can
//! no longer be projected.

use super::*;

/// Runs `sql` on headquarters' database (PostgreSQL's through `psql`, or SQLite's file):
/// the first column of its first row as text, empty if it gives none.
fn on_database(hq: &Hq, sql: &str) -> String {
    let local = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
    if let Some(url) = hq.database_url() {
        let psql = std::process::Command::new("psql")
            .args([&url, "-v", "ON_ERROR_STOP=1", "-tAc", sql])
            .output()
            .unwrap();
        assert!(psql.status.success(), "{psql:?}");
        return String::from_utf8(psql.stdout).unwrap().trim().to_string();
    }
    let mut statement = local.prepare(sql).unwrap();
    let mut rows = statement.query([]).unwrap();
    let Some(row) = rows.next().unwrap() else {
        return String::new();
    };
    match row.get_ref(0).unwrap() {
        rusqlite::types::ValueRef::Integer(n) => n.to_string(),
        rusqlite::types::ValueRef::Text(text) => String::from_utf8(text.to_vec()).unwrap(),
        other => panic!("{sql} gave {other:?}"),
    }
}

/// The projection's backlog, read from headquarters' database as `/metrics` reads it, once it
/// is 0 or 10 s have passed.
fn backlog_settled(hq: &Hq) -> usize {
    let since = Instant::now();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pool = hq
        .database_url()
        .map(|url| fairpos_postgres::connect(&url).unwrap());
    loop {
        let waiting = match &pool {
            Some(pool) => runtime
                .block_on(fairpos_postgres::ledgers::backlog(
                    pool,
                    Duration::from_secs(10),
                ))
                .unwrap(),
            None => {
                let conn = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
                fairpos_hq::project::backlog(&conn).unwrap()
            }
        };
        if waiting == 0 || since.elapsed() > Duration::from_secs(10) {
            return waiting;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Records headquarters' projection holds, counted in its database.
fn records_held(hq: &Hq) -> f64 {
    on_database(hq, "SELECT count(*) FROM records")
        .parse()
        .unwrap()
}

/// Stores a chunk that is not Automerge in T01's ledger, as a torn write would leave it
/// (headquarters stopped), first in the order its chunks load: the ledger can no longer be
/// projected. (After a whole snapshot, Automerge would pass it over.)
fn tear_t01s_ledger(hq: &Hq) {
    let doc = on_database(
        hq,
        "SELECT doc_id FROM hq_docs WHERE device = 'T01' LIMIT 1",
    );
    assert!(!doc.is_empty(), "T01 announced its ledger");
    let torn = "856f4a83206e6f74206120646f63756d656e74";
    let bytes = if hq.on_postgres() {
        format!("decode('{torn}', 'hex')")
    } else {
        format!("X'{torn}'")
    };
    on_database(
        hq,
        &format!("INSERT INTO samod_kv(key, bytes) VALUES ('{doc}/snapshot/!torn', {bytes})"),
    );
}

/// A till enrols and syncs a morning's sales, an organizer's tool asks for health three
/// times and for a page that is not there; the scrape says so, in both formats.
fn metrics_follow_what_the_server_does(hq: &Hq, backend: &str) {
    let server = Server::start(hq.data(), &["--metrics-listen", "127.0.0.1:0"]);
    let scraped_at = server
        .metrics
        .clone()
        .expect("a line saying where metrics are");
    let monitor = Api::new(scraped_at.strip_suffix("/metrics").unwrap());
    let api = Api::new(&server.url);
    let scrape = || monitor.get_accepting("/metrics", "text/plain").2;
    let value = |text: &str, series: &str| {
        fairpos_hq::metrics::sample(text, &format!("fairpos_hq_{series}"))
    };

    // Metrics only there, and nothing but metrics there.
    assert_eq!(api.get_text("/metrics").0, 404);
    assert_eq!(monitor.get_text("/").0, 404);
    let before = scrape();
    assert_eq!(
        value(&before, "sync_connections_total"),
        Some(0.0),
        "{before}"
    );
    assert_eq!(value(&before, "projection_records_total"), Some(0.0));
    // A body its length says is too big: answered 413 at once, and counted (the count was
    // inside the body's limit, and never saw it).
    let address = server.url.trim_start_matches("http://");
    let answer = common::raw::post_too_big_a_body(address, "/api/v1/login");
    assert_eq!(&answer, b"HTTP/1.1 413");

    let mut till = common::Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    common::morning::t01_morning(&mut till);
    till.synced();
    // An afternoon synced sale by sale: headquarters' samod stores each sale's change on its
    // own, until they weigh as much as the ledger's snapshot; then it compacts them (a
    // snapshot, then the chunks it holds deleted), which leaves the ledger out of the backlog.
    till.at("13:00");
    till.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
    let ledger = on_database(
        hq,
        "SELECT doc_id FROM hq_docs WHERE device = 'T01' LIMIT 1",
    );
    let count = |kind: &str, besides: &str| -> usize {
        let sql = format!(
            "SELECT count(*) FROM samod_kv WHERE key LIKE '{ledger}/{kind}/%' AND key <> '{besides}'"
        );
        on_database(hq, &sql).parse().unwrap()
    };
    // The morning's snapshot, once it is the only one (a compaction's deletes may lag).
    let since = Instant::now();
    let morning = loop {
        let sql = format!("SELECT key FROM samod_kv WHERE key LIKE '{ledger}/snapshot/%'");
        let keys = on_database(hq, &sql);
        let one = count("snapshot", "") == 1;
        if one || since.elapsed() > Duration::from_secs(10) {
            assert!(one && !keys.is_empty(), "the morning's snapshot: {keys:?}");
            break keys;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (mut most_alone, mut afternoon_syncs) = (0, 0);
    while afternoon_syncs < 60 && count("snapshot", &morning) == 0 {
        till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "wechat"]);
        till.synced();
        afternoon_syncs += 1;
        most_alone = most_alone.max(count("incremental", ""));
    }
    assert!(
        most_alone >= 3 && count("snapshot", &morning) == 1,
        "{most_alone} changes stored on their own before a compaction, {afternoon_syncs} syncs"
    );
    // The sales after it are stored on their own again, beside the new snapshot.
    for _ in 0..3 {
        till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "wechat"]);
        till.synced();
    }
    assert_eq!(count("snapshot", &morning), 1);
    assert!(count("incremental", "") >= 3);
    // Read while this process runs (a new one would take the ledger at its start again).
    assert_eq!(
        backlog_settled(hq),
        0,
        "the compacted ledger is not left waiting"
    );
    for _ in 0..3 {
        assert_eq!(api.get("/api/v1/health", None).0, 200);
    }
    let (status, page) = api.get_text("/no/such/page");
    assert_eq!(status, 404);
    assert!(page.contains("Not found"), "a page saying so: {page}");

    // The till's connection closes, and this process counts what it projected, once the
    // sync has ended.
    let held = records_held(hq);
    assert!(held > 0.0);
    let since = Instant::now();
    let text = loop {
        let text = scrape();
        let settled = value(&text, "sync_connections_open") == Some(0.0)
            && value(&text, "projection_records_total") == Some(held);
        if settled || since.elapsed() > Duration::from_secs(30) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(value(&text, "sync_connections_open"), Some(0.0), "{text}");
    assert_eq!(
        value(&text, "projection_records_total"),
        Some(held),
        "{text}"
    );
    // Every pass that took documents was timed.
    assert_eq!(
        value(&text, "projection_pass_duration_seconds_count"),
        value(&text, "projection_passes_total"),
        "{text}"
    );
    let at_least_one = [
        "sync_connections_total",
        "sync_received_bytes_total",
        "sync_sent_bytes_total",
        "projection_passes_total",
        "projection_ledgers_total",
        r#"http_requests_total{method="POST",route="/api/v1/enroll",status="200"}"#,
        r#"http_requests_total{method="GET",route="/sync",status="101"}"#,
        "disk_free_bytes",
        "database_size_bytes",
    ];
    for series in at_least_one {
        assert!(value(&text, series) >= Some(1.0), "{series}:\n{text}");
    }
    // The afternoon's syncs, a sale each, were read from the chunk each stored: the ledger's
    // document was loaded first and at samod's compaction (2 loads, on either backend, for
    // a projection at each sync, where each took a load before; one more is allowed).
    let loaded = value(&text, "projection_documents_loaded_total").unwrap_or(-1.0);
    let ledgers = value(&text, "projection_ledgers_total").unwrap_or(0.0);
    assert!(
        (1.0..=3.0).contains(&loaded) && ledgers >= (afternoon_syncs + 4) as f64,
        "{loaded} documents loaded for {ledgers} ledgers projected:\n{text}"
    );
    for (series, want) in [
        ("projection_failures_total", 0.0),
        ("projection_refused_total", 0.0),
        (
            r#"http_requests_total{method="GET",route="/api/v1/health",status="200"}"#,
            3.0,
        ),
        (
            r#"http_requests_total{method="GET",route="unmatched",status="404"}"#,
            2.0,
        ),
        (
            r#"http_requests_total{method="POST",route="/api/v1/login",status="413"}"#,
            1.0,
        ),
        ("disk_min_free_bytes", (2u64 << 30) as f64),
        ("disk_low", 0.0),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series}:\n{text}");
    }
    let build = format!(
        r#"build_info{{version="{}",role="hq",backend="{backend}"}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&text, &build), Some(1.0), "{text}");
    let pools = [
        ("sync", None),
        ("organizers", Some(4.0)),
        ("ready", Some(1.0)),
    ];
    for (pool, max) in pools {
        let series = format!(r#"db_connections_max{{pool="{pool}"}}"#);
        match (backend, max) {
            ("postgres", Some(max)) => assert_eq!(value(&text, &series), Some(max), "{text}"),
            ("postgres", None) => assert!(value(&text, &series) >= Some(1.0), "{text}"),
            _ => assert_eq!(value(&text, &series), None, "no pools on SQLite:\n{text}"),
        }
    }

    // As Prometheus asks by default, and as OpenMetrics when asked for it.
    let (status, kind, _) = monitor.get_accepting("/metrics", "text/plain");
    assert_eq!(
        (status, kind.as_str()),
        (200, "text/plain; version=0.0.4; charset=utf-8")
    );
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5";
    let (status, kind, openmetrics) = monitor.get_accepting("/metrics", accept);
    assert_eq!(status, 200);
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    server.stop();

    // The backlog, as a new process first reads it: none once every ledger is projected;
    // one once a ledger can no longer be projected.
    let backlog_at_start = || {
        let server = Server::start(hq.data(), &["--metrics-listen", "127.0.0.1:0"]);
        let at = server.metrics.clone().unwrap();
        let monitor = Api::new(at.strip_suffix("/metrics").unwrap());
        // Read beside the scrapes, as soon as the process starts: there within 10 s.
        let since = Instant::now();
        let backlog = loop {
            let text = monitor.get_accepting("/metrics", "text/plain").2;
            let backlog = value(&text, "projection_backlog_ledgers");
            if backlog.is_some() || since.elapsed() > Duration::from_secs(10) {
                break backlog;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        server.stop();
        backlog
    };
    assert_eq!(backlog_at_start(), Some(0.0));
    tear_t01s_ledger(hq);
    assert_eq!(backlog_at_start(), Some(1.0));
    assert_eq!(records_held(hq), held, "nothing of it is lost");

    // Off unless asked for.
    let server = Server::start(hq.data(), &[]);
    assert_eq!(server.metrics, None);
    server.stop();
}

#[test]
fn metrics_for_monitoring_follow_a_sqlite_headquarters() {
    metrics_follow_what_the_server_does(&Hq::demo(), "sqlite");
}

#[test]
fn metrics_for_monitoring_follow_a_postgresql_headquarters() {
    let Some(hq) = Hq::demo_postgres("metrics") else {
        return;
    };
    metrics_follow_what_the_server_does(&hq, "postgres");
}
