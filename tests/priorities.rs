//! Which of the real `fairpos hq serve`'s threads run nicer: the tills' sync (`hq-sync`,
//! its workers) and the SQLite projection (`hq-projection`) five steps nicer than the
//! requests' (`hq-http`) by default, so that in a storm of tills organizers' pages and the
//! API take the cores' time first; all alike with `--background-nice 0`. Read from
//! `/proc/PID/task/*/stat`, as `ps -L -o nice` shows them.

mod common;

use std::collections::BTreeMap;

use common::hq::{Hq, Server};

/// The nice values of the threads of process `pid`, by thread name (each name's values,
/// which must agree).
fn nice_by_thread(pid: u32) -> BTreeMap<String, i32> {
    let mut by_name: BTreeMap<String, i32> = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else {
            continue; // A thread that ended meanwhile.
        };
        // "TID (NAME) STATE …": the fields after the name, whose 17th is the nice value.
        let (name, rest) = stat.split_once(" (").unwrap().1.rsplit_once(") ").unwrap();
        let nice: i32 = rest.split(' ').nth(16).unwrap().parse().unwrap();
        if let Some(seen) = by_name.insert(name.to_string(), nice) {
            assert_eq!(seen, nice, "threads named {name} disagree");
        }
    }
    by_name
}

/// [`nice_by_thread`] once the server's threads have all started (the projection's may
/// start after the server answers).
fn nice_of_started(server: &Server) -> BTreeMap<String, i32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let nice = nice_by_thread(server.pid());
        let started = ["hq-http", "hq-sync", "hq-projection"];
        if started.iter().all(|name| nice.contains_key(*name)) {
            return nice;
        }
        assert!(std::time::Instant::now() < deadline, "{nice:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn the_tills_sync_and_the_projection_run_nicer_than_organizers_requests() {
    let hq = Hq::demo();
    let server = Server::start(hq.data(), &[]);
    let nice = nice_of_started(&server);
    let http = nice["hq-http"];
    assert_eq!(nice["hq-sync"], (http + 5).min(19), "{nice:?}");
    assert_eq!(nice["hq-projection"], (http + 5).min(19), "{nice:?}");
    drop(server);

    let server = Server::start(hq.data(), &["--background-nice", "0"]);
    let nice = nice_of_started(&server);
    let http = nice["hq-http"];
    assert_eq!(
        (nice["hq-sync"], nice["hq-projection"]),
        (http, http),
        "{nice:?}"
    );
}
