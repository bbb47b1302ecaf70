//! The benchmarks run and report their figures (tests assert behaviour, not speed; the
//! figures themselves are in the README and the closing notes).

mod common;

use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_fairpos-bench"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fairpos-bench {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn the_commit_bench_reports_its_figures() {
    let v = bench(&["commit", "--sales", "60"]);
    for key in [
        "fairpos_p50_us",
        "fairpos_p99_us",
        "baseline_p50_us",
        "ratio_p50",
        "p50_first_1k_us",
        "p50_last_1k_us",
    ] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key} in {v}");
    }
    assert_eq!(v["sales"], 60);
}

#[test]
fn the_hub_registry_bench_answers_hubs_holding_the_tag_304_on_both_servers() {
    let fairpos = env!("CARGO_BIN_EXE_fairpos");
    let args = [
        "hub-registry",
        "--devices",
        "20",
        "--hubs",
        "3",
        "--seconds",
        "3",
    ];
    let v = bench(&[&args[..], &["--baseline", fairpos]].concat());
    for server in ["this_build", "baseline"] {
        let s = &v[server];
        assert_eq!(s["answered_200"], 3, "each hub's first: {v}");
        assert!(s["answered_304"].as_u64().unwrap() > 0, "{v}");
        assert_eq!(s["answered_other"], 0, "{v}");
        assert!(s["registry_bytes"].as_u64().unwrap() > 20 * 200, "{v}");
        assert!(s["server_cpu_s"].as_f64().is_some(), "{v}");
    }
    // Hubs that send no tag are answered whole each time.
    let args = [
        "hub-registry",
        "--devices",
        "20",
        "--hubs",
        "2",
        "--seconds",
        "2",
    ];
    let v = bench(&[&args[..], &["--tags", "false"]].concat());
    assert_eq!(v["this_build"]["answered_304"], 0, "{v}");
    assert!(
        v["this_build"]["answered_200"].as_u64().unwrap() >= 2,
        "{v}"
    );
}

#[test]
fn the_sync_bench_pushes_to_both_servers() {
    let v = bench(&["sync", "--sales", "30"]);
    assert_eq!(v["records"], 31, "30 sales and the shift's opening");
    assert!(v["fairpos_ms"].as_f64().unwrap() > 0.0);
    assert!(v["js_sync_server_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_projection_bench_projects_every_sale_cold_then_the_new_ones() {
    // The bench itself checks that headquarters holds every sale after each step, that the
    // reconciliation finds every till whole and that it agrees with the report.
    let v = bench(&["project", "--tills", "3", "--sales", "40", "--new", "7"]);
    assert_eq!(v["sales"], 120);
    assert_eq!(v["new_sales"], 7);
    assert_eq!(v["ledgers_touched"], 3);
    for key in [
        "cold_ms",
        "incremental_ms",
        "full_reproject_ms",
        "restart_ms",
        "restart_every_ledger_ms",
        "restart_every_ledger_whole_ms",
    ] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key} in {v}");
    }
}

#[test]
fn the_projection_bench_also_projects_into_postgres() {
    let Some(url) = common::postgres::fresh_database("bench") else {
        return;
    };
    // The bench checks PostgreSQL's report by product against SQLite's to the fen.
    let v = bench(&[
        "project",
        "--tills",
        "3",
        "--sales",
        "300",
        "--postgres",
        &url,
    ]);
    assert_eq!(v["postgres_records"], 3 * 301 + 100, "{v}");
    // Then 33 sales more on each ledger, projected from storage three ways: from their
    // chunks alone, with the document loaded and resumed, and read whole (the bench counts
    // each pass's new records).
    assert_eq!(v["postgres_incremental_sales"], 3 * 33, "{v}");
    for figure in [
        "postgres_cold_ms",
        "postgres_incremental_ms",
        "postgres_incremental_loaded_ms",
        "postgres_incremental_whole_ms",
    ] {
        assert!(v[figure].as_f64().is_some_and(|x| x > 0.0), "{figure}: {v}");
    }
    // A database that holds a projection already is refused, not added to.
    let out = Command::new(env!("CARGO_BIN_EXE_fairpos-bench"))
        .args([
            "project",
            "--tills",
            "1",
            "--sales",
            "5",
            "--postgres",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("give the bench an empty database"), "{err}");
}

#[test]
fn the_reports_bench_reads_a_province_and_its_baseline() {
    // The bench checks every report, the reconciliation, the leaderboard and the busiest
    // unit's list against what it wrote, to the fen, and the scans against the roll-up.
    let v = bench(&["reports", "--tills", "7", "--sales", "300", "--baseline"]);
    assert_eq!(v["sales"], 2100);
    assert_eq!(v["tills"], 7);
    assert!(v["unit_lines"].as_u64().is_some_and(|n| n > 0), "{v}");
    for by in [
        "product", "county", "unit", "team", "seller", "payment", "hour", "stall",
    ] {
        assert!(v["report_ms"][by].is_number(), "{by} in {v}");
        assert!(v["baseline_scan_ms"][by].is_number(), "{by} in {v}");
    }
}

#[test]
fn the_backup_bench_copies_a_kept_province_three_ways() {
    let dir = tempfile::tempdir().unwrap();
    let province = dir.path().join("province");
    let kept = province.to_str().unwrap();
    bench(&[
        "reports", "--tills", "3", "--sales", "200", "--dir", kept, "--keep",
    ]);
    let v = bench(&["backup", "--reuse", kept]);
    // `hq backup`'s own count, read from its checked copy.
    assert_eq!(v["sales"], 600, "{v}");
    let size = v["db_bytes"].as_u64().unwrap();
    assert_eq!(v["hq_backup_bytes"], size, "page for page: {v}");
    assert!(
        v["vacuum_into_bytes"].as_u64().is_some_and(|n| n > 0),
        "{v}"
    );
    assert!(v["cp_sync_s"].is_number(), "{v}");
    // The copies are removed: the province is as it was kept.
    let mut left: Vec<_> = std::fs::read_dir(&province)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| name.contains("backup"))
        .collect();
    left.sort();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_reports_bench_reads_the_same_province_in_postgres() {
    let Some(url) = common::postgres::fresh_database("reports") else {
        return;
    };
    // The bench checks each of PostgreSQL's answers against SQLite's, to the fen: the
    // reports, both reconciliations (oversold lines included), the leaderboard, a unit's list.
    let v = bench(&[
        "reports",
        "--tills",
        "7",
        "--sales",
        "600",
        "--postgres",
        &url,
    ]);
    assert_eq!(v["sales"], 4200);
    assert_eq!(v["oversold_lines"], 7, "one in 499 sales: {v}");
    assert_eq!(v["postgres_oversold_lines"], 7, "{v}");
    for by in [
        "product", "county", "unit", "team", "seller", "payment", "hour", "stall",
    ] {
        assert!(v["postgres_report_ms"][by].is_number(), "{by} in {v}");
    }
    assert!(v["postgres_reconcile_ms"].is_number(), "{v}");
    // The same province again (the bench writes it the same way), read where the first run
    // copied it, without copying.
    let again = bench(&[
        "reports",
        "--tills",
        "7",
        "--sales",
        "600",
        "--postgres",
        &url,
        "--postgres-copied",
    ]);
    assert!(again["postgres_copy_s"].is_null(), "{again}");
    assert_eq!(again["postgres_oversold_lines"], 7, "{again}");
}

#[test]
fn the_backlog_bench_counts_the_ledgers_written_waiting_both_ways() {
    let Some(url) = common::postgres::fresh_database("backlog") else {
        return;
    };
    let args = ["backlog", "--database", &url, "--ledgers", "300"];
    let v = bench(&[&args[..], &["--waiting", "5", "--runs", "2"]].concat());
    assert_eq!(
        (v["ledgers"].as_u64(), v["chunks"].as_u64()),
        (Some(300), Some(900)),
        "{v}"
    );
    assert_eq!(v["waiting"], 5, "{v}");
    for figures in ["count_ms", "baseline_ms"] {
        let runs = v[figures].as_array().unwrap();
        assert_eq!(runs.len(), 2, "{v}");
        assert!(runs.iter().all(serde_json::Value::is_number), "{v}");
    }
    // A database that holds documents already is refused, not added to.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fairpos-bench"))
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("give an empty one"), "{said}");
}

#[test]
fn the_load_bench_syncs_every_till_at_once_and_probes_the_api() {
    // The bench fails unless every `fairpos sync` succeeds and headquarters then holds every
    // sale. Both backends in one run where PostgreSQL runs: two processes share it, in a
    // storm without metrics and then one with them (the database the first filled is
    // emptied for the second). Each till syncs twice: its first nine sales (with its genesis
    // and its shift: the ledger arrives whole, stored as a snapshot), then nine more (stored
    // one to a chunk).
    let database = common::postgres::fresh_database("hq_load");
    let mut args = vec![
        "hq-load",
        "--tills",
        "3",
        "--sales",
        "18",
        "--tills-nice",
        "5",
        "--rounds",
        "2",
    ];
    if let Some(url) = &database {
        args.extend([
            "--backend",
            "sqlite,postgres",
            "--processes",
            "2",
            "--database",
            url,
            "--metrics",
            "off,on",
        ]);
    }
    let v = bench(&args);
    let runs = v["runs"].as_array().expect("the last line holds every run");
    let backends: Vec<&str> = runs.iter().filter_map(|r| r["backend"].as_str()).collect();
    match database {
        Some(_) => assert_eq!(
            backends,
            ["sqlite", "sqlite", "postgres", "postgres"],
            "{v}"
        ),
        None => assert_eq!(backends, ["sqlite"], "{v}"),
    }
    for run in runs {
        assert_eq!(run["sales"], 54);
        assert_eq!(run["rounds"], 2, "{run}");
        assert_eq!(run["round_ms"].as_array().map(Vec::len), Some(2), "{run}");
        assert_eq!(run["tills_nice"], 5, "{run}");
        assert_eq!(run["api_probe_failures"], 0, "{run}");
        for key in ["till_sync_p50_ms", "till_sync_p99_ms", "ingest_sales_per_s"] {
            assert!(run[key].as_f64().is_some_and(|x| x > 0.0), "{key} in {run}");
        }
        // Three `fairpos sync` processes take some CPU; headquarters' share of so small a
        // storm is counted in ticks of 10 ms and may be none.
        assert!(
            run["tills_cpu_s"].as_f64().is_some_and(|x| x > 0.0),
            "{run}"
        );
        assert!(run["hq_cpu_s"].as_f64().is_some_and(|x| x >= 0.0), "{run}");
    }
    if database.is_some() {
        assert_eq!(runs[3]["processes"], 2, "{v}");
        // Both processes' counters, summed: every record projected once.
        let counted = &runs[3]["metrics_counted"];
        assert_eq!(
            counted["projection_records"], counted["records_held"],
            "{v}"
        );
        assert!(counted["records_held"].as_f64() >= Some(54.0), "{v}");
        // And nothing left waiting for the projection, once the storm is projected.
        assert_eq!(counted["backlog_after"], 0, "{v}");
        // Each till's two syncs counted, and the documents loaded reported (at least each
        // ledger's first; how many of the second syncs' are read from their chunks alone
        // depends on the order samod's puts commit in, which postgres/tests/documents
        // checks each way).
        assert!(counted["sync_connections"].as_f64() >= Some(6.0), "{v}");
        assert!(counted["documents_loaded"].as_f64() >= Some(3.0), "{v}");
    }
    assert!(runs.iter().all(|r| r["tills_as"] == "processes"), "{v}");

    // The tills on threads of the bench: the same sessions, without a program start each;
    // a storm without metrics, then one with them scraped throughout. Each till syncs three
    // times (7, 7 and 6 sales).
    let v = bench(&[
        "hq-load",
        "--tills",
        "3",
        "--sales",
        "20",
        "--rounds",
        "3",
        "--tills-as",
        "threads",
        "--screen",
        "--metrics",
        "off,on",
    ]);
    let runs = v["runs"].as_array().expect("the last line holds every run");
    let modes: Vec<&str> = runs.iter().filter_map(|r| r["metrics"].as_str()).collect();
    assert_eq!(modes, ["off", "on"], "{v}");
    assert_eq!(runs[0]["metrics_counted"], serde_json::Value::Null, "{v}");
    let with_metrics = &runs[1];
    // Every scrape during the storm answered (a failed one is a failed probe), and after it
    // the process's counters held every till's connection and every sale projected.
    assert_eq!(with_metrics["api_probe_failures"], 0, "{with_metrics}");
    assert!(
        with_metrics["metrics_scrape_p99_ms"].as_f64().is_some(),
        "{with_metrics}"
    );
    let counted = &with_metrics["metrics_counted"];
    assert!(
        counted["sync_connections"].as_f64() >= Some(9.0),
        "{counted}"
    );
    assert_eq!(
        counted["projection_records"], counted["records_held"],
        "{counted}"
    );
    assert!(counted["records_held"].as_f64() >= Some(60.0), "{counted}");
    assert_eq!(counted["projection_failures"], 0.0, "{counted}");
    assert_eq!(counted["backlog_after"], 0, "{counted}");
    let run = &runs[0];
    assert_eq!(run["tills_as"], "threads", "{v}");
    // The big screen followed the storm over its event stream and got figures.
    assert!(
        run["screen_events"].as_u64().is_some_and(|n| n >= 1),
        "{run}"
    );
    assert_eq!(run["sales"], 60, "{v}");
    assert_eq!(run["tills_nice"], 10, "{v}");
    assert!(
        run["tills_cpu_s"].as_f64().is_some_and(|x| x > 0.0),
        "{run}"
    );
}

#[test]
fn the_ui_bench_draws_frames_and_starts_a_till() {
    let v = bench(&["ui", "--sales", "40", "--scans", "12"]);
    assert_eq!(v["products"], 5000);
    for key in ["scan_to_frame_p50_ms", "cold_start_ms", "rss_mb"] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key} in {v}");
    }
}
