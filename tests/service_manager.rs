//! `hq serve` under systemd's `Type=notify`, started as `deploy/fairpos-hq.service` starts
//! it (its `ExecStart` flags, with this test's paths): a real Unix datagram socket, named by
//! `NOTIFY_SOCKET` as systemd names its own, receives `READY=1` (with where it serves) once
//! `hq serve` answers, `RELOADING=1` with `MONOTONIC_USEC` and then `READY=1` again on
//! SIGHUP (the unit's `ExecReload`), and `STOPPING=1` on SIGTERM (`systemctl stop`).

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::Duration;

use common::api::Api;
use common::hq::{Hq, Server};

/// The next message on `socket`, as text.
fn received(socket: &UnixDatagram) -> String {
    let mut message = [0; 4096];
    let n = socket.recv(&mut message).expect("a message within 20 s");
    String::from_utf8(message[..n].to_vec()).unwrap()
}

/// The flags after `serve` in the unit's `ExecStart`, checking that the unit is of
/// `Type=notify`, reloads by SIGHUP and runs `fairpos-hq --data DIR serve`.
fn unit_serve_flags() -> Vec<String> {
    let unit = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/fairpos-hq.service");
    let unit = std::fs::read_to_string(unit).unwrap();
    let setting = |name: &str| {
        unit.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("the unit has no {name}"))
    };
    assert_eq!(setting("Type"), "notify");
    assert_eq!(setting("ExecReload"), "/bin/kill -HUP $MAINPID");
    let words: Vec<&str> = setting("ExecStart").split_whitespace().collect();
    let [program, "--data", _, "serve", flags @ ..] = words.as_slice() else {
        panic!("ExecStart is not fairpos-hq --data DIR serve …: {words:?}");
    };
    assert!(program.ends_with("/fairpos-hq"), "{program}");
    flags.iter().map(|flag| flag.to_string()).collect()
}

#[test]
fn hq_serve_tells_the_service_manager_when_it_serves_reloads_and_stops() {
    let hq = Hq::demo();
    let path = hq.data().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let env = [("NOTIFY_SOCKET", path.to_str().unwrap())];
    let (ca, cert, key) = common::tls::certificates(hq.data(), "fair");
    let flags = unit_serve_flags();
    let flags: Vec<&str> = flags
        .iter()
        .map(|flag| match flag.as_str() {
            "0.0.0.0:7700" => "127.0.0.1:0",
            "/etc/fairpos/hq.pem" => common::tls::path(&cert),
            "/etc/fairpos/hq.key" => common::tls::path(&key),
            other => other,
        })
        .collect();
    let server = Server::start_logging(hq.data(), &flags, &env, Stdio::inherit());
    assert!(server.url.starts_with("https://"), "{}", server.url);

    let ready = received(&socket);
    assert_eq!(
        ready,
        format!("READY=1\nSTATUS=serving on {}\n", server.url),
        "{ready}"
    );
    // Ready means answering.
    let api = Api::from(&server.url, None, Some(&ca));
    assert_eq!(api.get("/api/v1/health", None).0, 200);

    server.hang_up();
    let reloading = received(&socket);
    let usec = reloading
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .and_then(|rest| rest.trim_end().parse::<u64>().ok());
    assert!(usec.is_some_and(|usec| usec > 0), "{reloading}");
    assert_eq!(received(&socket), "READY=1\n");

    server.stop();
    assert_eq!(received(&socket), "STOPPING=1\n");
}
