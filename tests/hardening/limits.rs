//! What a client or a till cannot make the server do: a connection closed before its answers
//! ends that connection alone, a command that only prints ends quietly when its reader goes,
//! an oversized sync message is dropped, a ledger too large or one too many is refused, a
//! stranger's body is not read.

use super::*;

#[test]
fn a_client_closing_its_connection_before_the_answers_ends_that_connection_alone() {
    use std::io::Write;
    let hq = Hq::demo();
    let mut server = Server::start(hq.data(), &[]);
    let address = server.url.trim_start_matches("http://").to_string();
    // Three requests at once, the connection closed unread: the server's next write meets a
    // reset socket. With SIGPIPE at its default this killed the whole process (exit 141).
    let three = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n".repeat(3);
    for _ in 0..10 {
        let mut socket = std::net::TcpStream::connect(&address).unwrap();
        socket.write_all(&three).unwrap();
        drop(socket);
    }
    pause(500);
    assert_eq!(server.ended(), None, "hq serve is still running");
    assert_eq!(Http::new(&server.url).get("/api/v1/health").0, 200);

    // A body its length says is too big is answered 413 at once, not waited for.
    let answer = common::raw::post_too_big_a_body(&address, "/api/v1/login");
    assert_eq!(&answer, b"HTTP/1.1 413");
}

#[test]
fn a_command_that_only_prints_ends_quietly_when_its_reader_goes_away() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let hq = Hq::demo();
    // As `fairpos hq audit | head -0`: the reader is gone before the first line is written.
    for args in [&["hq", "audit"][..], &["hq", "user", "list"]] {
        // The pipe's reading end closed before the command starts: dropped after the spawn,
        // a command quicker than the test (the test's thread put aside on a busy machine)
        // wrote all it had into the pipe and ended well.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let child = Command::new(common::BIN)
            .arg("--data")
            .arg(hq.data())
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), Some(13), "{args:?}: {said}");
        assert!(!said.contains("panicked"), "{args:?}: {said}");
    }
}

#[test]
fn an_oversized_sync_message_is_dropped_and_logged_and_service_goes_on() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let hq = Hq::demo();
    let server = Server::start(hq.data(), &["--max-sync-message", "1"]);
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));

    // A till's credentials, a message of 2 MiB on the sync socket: the connection ends.
    let token = format!("T01.{}", till.secret());
    let url = format!(
        "{}/sync?token={token}",
        server.url.replace("http://", "ws://")
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answer = runtime.block_on(async {
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let huge = vec![0xa5u8; 2 << 20];
        let _ = socket.send(Message::Binary(huge.into())).await;
        tokio::time::timeout(Duration::from_secs(20), socket.next()).await
    });
    let ended = match answer {
        Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => true,
        Ok(Some(Ok(other))) => panic!("the server answered {other:?}"),
        Err(_) => false,
    };
    assert!(ended, "the connection stayed open");

    // Logged as the till's, and the server goes on: the same till syncs normally.
    let events = hq.events();
    assert!(
        events.contains("T01") && events.contains("too long"),
        "no event of the dropped message:\n{events}"
    );
    assert_eq!(Http::new(&server.url).get("/api/v1/health").0, 200);
    till.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "cash"]);
    till.synced();
    assert_eq!(hq.sales().len(), 1);
}

#[test]
fn a_ledger_too_large_or_one_too_many_is_refused_logged_and_taken_no_further_on_sqlite() {
    a_ledger_too_large_or_one_too_many_is_refused_logged_and_taken_no_further(Hq::demo());
}

#[test]
fn a_ledger_too_large_or_one_too_many_is_refused_logged_and_taken_no_further_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("limits") {
        a_ledger_too_large_or_one_too_many_is_refused_logged_and_taken_no_further(hq);
    }
}

fn a_ledger_too_large_or_one_too_many_is_refused_logged_and_taken_no_further(hq: Hq) {
    let limits = ["--max-document", "8KiB", "--max-documents-per-device", "2"];
    let server = Server::start(hq.data(), &limits);
    let mut till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));

    // A busy morning: 300 sales, about 14 KiB of ledger, past 8 KiB. Headquarters refuses
    // the ledger and logs it; the till is never told it holds every change.
    till.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    let batch: String = (0..300)
        .map(|i| {
            let item = ["LS-MH-1", "FH-JT-300", "6935780100128"][i % 3];
            format!("{{\"seller\":\"V003\",\"items\":[\"{item}\"],\"pay\":[\"wechat\"]}}\n")
        })
        .collect();
    let batch_file = till.data().join("batch.jsonl");
    std::fs::write(&batch_file, batch).unwrap();
    till.ok(&["sell-batch", batch_file.to_str().unwrap()]);
    let sync = |till: &Till| till.run(&["sync", "--timeout", "4"]);
    assert!(!sync(&till).status.success());
    let events = hq.events();
    assert!(
        events.contains("over the size limit") && events.contains("T01"),
        "no refusal logged:\n{events}"
    );
    // Reconciliation says so: the till was "complete", nothing of it held or stated.
    let rec = hq.json(&["hq", "reconcile", "--json"]);
    let t01 = rec["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == "T01")
        .unwrap();
    let why = t01["refused"].as_str().unwrap_or_default();
    assert!(
        t01["complete"] == false
            && why.starts_with("ledger 2026-11-")
            && why.contains("over the size limit"),
        "{t01}"
    );
    let text = hq.ok(&["hq", "reconcile"]);
    assert!(
        text.contains("INCOMPLETE") && text.contains(&format!("  refused {why}: taken no further")),
        "{text}"
    );

    // Nothing more of it is taken, before and after a restart.
    let held = hq.sales().len();
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "cash"]);
    assert!(!sync(&till).status.success());
    assert_eq!(hq.sales().len(), held);
    let address = server.address().to_string();
    server.stop();
    let mut args = limits.to_vec();
    args.extend(["--listen", &address]);
    let server = Server::start(hq.data(), &args);
    assert!(!sync(&till).status.success());
    assert_eq!(hq.sales().len(), held);

    // Ledgers past the count per till are refused at announcement (403, logged): T01 holds
    // one, the limit is two, and two more are announced.
    let token = format!("T01.{}", till.secret());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    fairpos_sync::tls::install_crypto_provider();
    let client = reqwest::Client::new();
    let announce = |ledgers: &[&str]| {
        runtime.block_on(async {
            let health = client.get(format!("{}/api/v1/health", server.url)).send();
            let health: serde_json::Value = health.await.unwrap().json().await.unwrap();
            let fair = health["fair"].as_str().unwrap().to_string();
            let docs: Vec<String> = ledgers
                .iter()
                .map(|ledger| format!("ledger/{fair}/{ledger}"))
                .collect();
            let announce = client
                .post(format!("{}/api/v1/sync/announce", server.url))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "docs": docs }))
                .send();
            let answer = announce.await.unwrap();
            (answer.status().as_u16(), answer.text().await.unwrap())
        })
    };
    let (status, said) = announce(&["T01/2026-11-23", "T01/2026-11-24"]);
    assert_eq!(status, 403, "{said}");
    assert!(said.contains("the limit is 2"), "{said}");
    assert!(hq.events().contains("--max-documents-per-device"));
    // One more ledger named three times is one ledger, within the limit.
    let (status, said) = announce(&["T01/2026-11-23"; 3]);
    assert_eq!(status, 200, "{said}");
    // A key whose day is not a till's (kept and sent back with every confirmation), or of
    // another device, is refused, and told back cut short.
    let long_day = format!("T01/2026-11-25{}", "x".repeat(100_000));
    let long_device = format!("T{}/2026-11-25", "1".repeat(100_000));
    for ledger in [
        "T01/2026-13-45",
        "T01/=1+1",
        long_day.as_str(),
        long_device.as_str(),
    ] {
        let (status, said) = announce(&[ledger]);
        assert_eq!(status, 403, "{said}");
        assert!(said.len() < 400, "not echoed whole: {} bytes", said.len());
    }

    // The refusal is told as such (it was a timeout of the push, every pass), and the
    // till's next day is sent and confirmed beside the refused ledger.
    let out = sync(&till);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("refuses") && said.contains("over the size limit"),
        "{said}"
    );
    till.now = "2026-11-23T10:00:00+08:00".into();
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "cash"]);
    assert!(
        !sync(&till).status.success(),
        "the refused ledger is still refused"
    );
    assert_eq!(hq.sales().len(), held + 1);
    let status = till.json(&["sync", "status", "--json"]);
    assert_eq!(
        status["unconfirmed_sales"], 301,
        "all of the first day's, no more"
    );
}

#[test]
fn a_strangers_body_is_not_read_before_its_credentials_are_refused() {
    use std::io::{Read, Write};
    let hq = Hq::demo();
    let server = hq.serve();
    for path in ["/api/v1/sync/announce", "/api/v1/sync/confirm"] {
        let mut stream = std::net::TcpStream::connect(server.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        // A body of two megabytes is promised, and its first bytes sent; the rest never
        // comes. Headquarters refuses the credentials without waiting for it (it read a
        // stranger's body first, and answered only once the body came or the request timed
        // out).
        write!(
            stream,
            "POST {path}?token=T01.f00d HTTP/1.1\r\nHost: hq\r\n\
             Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{{\"docs\":["
        )
        .unwrap();
        let mut status = [0u8; 12];
        stream.read_exact(&mut status).unwrap();
        assert_eq!(&status, b"HTTP/1.1 401", "{path}");
    }
}
