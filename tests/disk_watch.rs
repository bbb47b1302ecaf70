//! Headquarters watches the free space on its data directory's disk: below
//! `--min-free-disk` (or `FAIRPOS_HQ_MIN_FREE_DISK`) the real `fairpos hq serve` logs one
//! line naming the directory and both sizes, and `/api/v1/health` says `"disk": "low"`; with
//! room it says `"ok"` and logs nothing of it. The disk is this machine's, read as the
//! server reads it; "low" comes from asking for more room than any disk has.

mod common;

use std::fs::File;

use common::hq::{Hq, Server};
use serde_json::Value;

fn health(url: &str) -> Value {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The client a till builds (reqwest's TLS provider is fairpos's own).
    let trust = fairpos_sync::tls::Trust::with_ca(None).unwrap();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(trust.client_config().as_ref().clone())
        .build()
        .unwrap();
    runtime.block_on(async {
        client
            .get(format!("{url}/api/v1/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

#[test]
fn a_disk_short_of_room_is_logged_once_and_health_says_low() {
    let hq = Hq::demo();
    let log_path = hq.data().join("serve.log");

    let server = Server::start_logging(
        hq.data(),
        &["--min-free-disk", "1000000000GiB"],
        File::create(&log_path).unwrap(),
    );
    let answer = health(&server.url);
    assert_eq!(answer["disk"], "low", "{answer}");
    assert_eq!(answer["role"], "hq", "{answer}");
    server.stop();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("MiB free")).collect();
    assert_eq!(lines.len(), 1, "one line of it:\n{log}");
    assert!(
        lines[0].contains(&format!("the disk under {} has ", hq.data().display()))
            && lines[0].contains("MiB free, under --min-free-disk 1024000000000 MiB"),
        "{}",
        lines[0]
    );

    // The default (2 GiB) on this machine's disk, which has more: nothing logged.
    let server = Server::start_logging(hq.data(), &[], File::create(&log_path).unwrap());
    let answer = health(&server.url);
    assert_eq!(answer["disk"], "ok", "{answer}");
    server.stop();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains("MiB free"), "{log}");
}

#[test]
fn a_minimum_that_is_not_a_size_is_refused_in_one_line() {
    let hq = Hq::demo();
    let out = hq.run(&[
        "hq",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--min-free-disk",
        "2GB",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--min-free-disk 2GB: a whole number and KiB, MiB or GiB"),
        "{stderr}"
    );
}
