//! Headquarters watches the free space on its data directory's disk: below
//! `--min-free-disk` (or `FAIRPOS_HQ_MIN_FREE_DISK`) the real `fairpos hq serve` logs one
//! line naming the directory and both sizes, `/api/v1/health` says `"disk": "low"` and the
//! organizers' overview says so at its top; with room, `"ok"`, no banner and nothing logged.
//! The disk is this machine's, read as the server reads it; "low" comes from asking for
//! more room than any disk has.

mod common;

use std::fs::File;

use common::hq::{Api, Hq, Server};

/// The health answer's `disk`, and whether an organizer's overview shows the banner.
fn disk_as_served(url: &str) -> (String, bool) {
    let api = Api::new(url);
    let (status, health) = api.get("/api/v1/health", None);
    assert_eq!(status, 200);
    assert_eq!(health["role"], "hq", "{health}");
    let (token, _) = api.login();
    let (status, _, overview) = api.fetch("/", Some(&token), false);
    assert_eq!(status, 200);
    assert!(
        overview.contains("id=\"tills\""),
        "not the overview:\n{overview}"
    );
    let disk = health["disk"].as_str().unwrap_or_default().to_string();
    (disk, overview.contains("id=\"disk-low\""))
}

#[test]
fn a_disk_short_of_room_is_logged_once_and_health_and_the_overview_say_so() {
    let hq = Hq::demo();
    let log_path = hq.data().join("serve.log");

    let server = Server::start_logging(
        hq.data(),
        &[],
        &[("FAIRPOS_HQ_MIN_FREE_DISK", "1000000000GiB")],
        File::create(&log_path).unwrap(),
    );
    assert_eq!(disk_as_served(&server.url), ("low".to_string(), true));
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

    // With room: nothing logged.
    let server = Server::start_logging(
        hq.data(),
        &["--min-free-disk", "1KiB"],
        &[],
        File::create(&log_path).unwrap(),
    );
    assert_eq!(disk_as_served(&server.url), ("ok".to_string(), false));
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
