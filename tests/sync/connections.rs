//! Connections that do not go as planned: a confirmation held until the projection, a proxy
//! that cuts or answers busy, a headquarters from before the held confirmation.

use super::*;

/// A TCP proxy in front of `target`: answers flow back untouched; what each client sends
/// (the `n`th connection) goes through `forward(n, client, server)` on a thread of its own.
fn proxy(
    target: std::net::SocketAddr,
    forward: impl Fn(usize, std::net::TcpStream, std::net::TcpStream) + Clone + Send + 'static,
) -> std::net::SocketAddr {
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().enumerate() {
            let (Ok(client), Ok(server)) = (client, TcpStream::connect(target)) else {
                continue;
            };
            let (mut s_read, mut c_write) =
                (server.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(Shutdown::Both);
            });
            let forward = forward.clone();
            std::thread::spawn(move || forward(n, client, server));
        }
    });
    addr
}

/// A TCP proxy that cuts each of its first `cuts` connections after a random number of bytes
/// from the client, mid-message, and passes the rest through.
fn cutting_proxy(target: std::net::SocketAddr, cuts: usize, seed: u64) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    use std::net::Shutdown;
    let limits: Vec<usize> = {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..cuts).map(|_| rng.random_range(40..3000usize)).collect()
    };
    proxy(target, move |n, mut client, mut server| {
        let limit = limits.get(n).copied();
        let mut sent = 0;
        let mut buf = [0u8; 512];
        while let Ok(k) = client.read(&mut buf) {
            if k == 0 {
                break;
            }
            let take = limit.map_or(k, |l| k.min(l.saturating_sub(sent)));
            if server.write_all(&buf[..take]).is_err() {
                break;
            }
            sent += take;
            if limit.is_some_and(|l| sent >= l) {
                break;
            }
        }
        let _ = server.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
    })
}

#[test]
fn a_till_asking_for_its_confirmation_is_held_until_headquarters_has_projected_on_sqlite() {
    a_till_asking_for_its_confirmation_is_held_until_headquarters_has_projected(Hq::demo());
}

#[test]
fn a_till_asking_for_its_confirmation_is_held_until_headquarters_has_projected_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("held") {
        a_till_asking_for_its_confirmation_is_held_until_headquarters_has_projected(hq);
    }
}

fn a_till_asking_for_its_confirmation_is_held_until_headquarters_has_projected(hq: Hq) {
    // Step 0: a till sells and syncs; headquarters has projected its ledger.
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    sell_some(&till, "V003", 3);
    till.synced();
    let api = Api::new(&server.url);
    let token = format!("T01.{}", till.secret());
    let ledger = first_ledger(&till);
    let key = ledger.id().key();
    let heads = heads_text(&ledger.heads());
    let ask = |heads: &str, wait_ms: u64| {
        let body =
            serde_json::json!({ "docs": [{ "key": key, "heads": heads }], "wait_ms": wait_ms });
        api.post("/api/v1/sync/confirm", Some(&token), &body)
    };

    // Step 1: asked to confirm what it holds, headquarters answers at once, as to a GET.
    let (status, held) = ask(&heads, 10_000);
    assert_eq!(status, 200, "{held}");
    assert_eq!(held["docs"][0]["heads"], heads.as_str());
    assert_eq!(held, api.get("/api/v1/sync/confirm", Some(&token)).1);

    // Step 2: asked for heads it will never have, it answers with what it holds once the
    // wait is over; a question it cannot read is refused, not failed.
    let (status, answer) = ask("00", 200);
    assert_eq!(status, 200);
    assert_eq!(answer["docs"][0]["heads"], heads.as_str());
    let bad = serde_json::json!({ "wait_ms": "soon" });
    let (status, answer) = api.post("/api/v1/sync/confirm", Some(&token), &bad);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("the question"),
        "{answer}"
    );
    assert_eq!(api.post("/api/v1/sync/confirm", None, &bad).0, 401);

    // Step 3: the till sells on; a question for its new heads, asked before it syncs, is
    // held, and answered when the sync is projected, not when its ten seconds are over.
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "cash"]);
    let new_heads = heads_text(&first_ledger(&till).heads());
    assert_ne!(new_heads, heads);
    let (answer, waited) = std::thread::scope(|scope| {
        let held = scope.spawn(|| {
            let asked = Instant::now();
            (ask(&new_heads, 10_000), asked.elapsed())
        });
        pause(200);
        assert!(!held.is_finished(), "answered before the till synced");
        till.synced();
        held.join().unwrap()
    });
    assert_eq!(answer.0, 200);
    assert_eq!(answer.1["docs"][0]["heads"], new_heads.as_str());
    assert!(
        waited < Duration::from_secs(10),
        "answered at the wait's end"
    );
}

#[test]
fn a_proxy_that_cuts_connections_mid_message_loses_and_doubles_nothing_on_sqlite() {
    a_proxy_that_cuts_connections_mid_message_loses_and_doubles_nothing(Hq::demo());
}

#[test]
fn a_proxy_that_cuts_connections_mid_message_loses_and_doubles_nothing_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("proxy") {
        a_proxy_that_cuts_connections_mid_message_loses_and_doubles_nothing(hq);
    }
}

fn a_proxy_that_cuts_connections_mid_message_loses_and_doubles_nothing(hq: Hq) {
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    sell_some(&till, "V003", 40);
    let target = server.address();
    let proxy = cutting_proxy(target, 12, rand::random());
    let via = format!("http://{proxy}");
    // The till tries again and again through the bad link until a pass goes through whole.
    let mut failures = 0;
    loop {
        let out = till.run(&["sync", "--hq", &via, "--timeout", "5"]);
        if out.status.success() {
            break;
        }
        failures += 1;
        assert!(failures < 30, "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(failures > 0, "the proxy cut nothing");
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &till)]));
    till.synced_with(&via);
    assert_eq!(hq.sales().len(), 40);
}

/// A proxy whose first `busy` connections are answered `503` asking for a wait of one
/// second (as headquarters answers when its database is busy), the rest passed through.
fn busy_proxy(target: std::net::SocketAddr, busy: usize) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    use std::net::Shutdown;
    proxy(target, move |n, mut client, mut server| {
        if n < busy {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && client.read(&mut byte).is_ok_and(|k| k == 1) {
                head.push(byte[0]);
            }
            let why = r#"{"error":"the database is busy: try again"}"#;
            let answer = format!(
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{why}",
                why.len()
            );
            let _ = client.write_all(answer.as_bytes());
        } else {
            let _ = std::io::copy(&mut client, &mut server);
        }
        let _ = server.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
    })
}

/// A one-shot `fairpos sync` answered busy with a short `Retry-After` waits it and tries
/// again, saying so, up to three passes in all; answered so more often, it ends saying how
/// long headquarters asked for.
#[test]
fn a_one_shot_sync_answered_busy_waits_as_asked_and_tries_again() {
    let hq = Hq::demo();
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    sell_some(&till, "V003", 3);
    let via = format!("http://{}", busy_proxy(server.address(), 2));
    let out = till.run(&["sync", "--hq", &via, "--timeout", "5"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    let told = "the database is busy: try again; trying again in 1 s, as asked";
    assert_eq!(said.matches(told).count(), 2, "{said}");
    assert_eq!(hq.sales().len(), 3);

    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "wechat"]);
    let via = format!("http://{}", busy_proxy(server.address(), 3));
    let out = till.run(&["sync", "--hq", &via, "--timeout", "5"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert_eq!(said.matches(told).count(), 2, "{said}");
    let ended = "headquarters asked to be left alone for 1 s: sync again after that";
    assert!(said.contains(ended), "{said}");
    assert_eq!(hq.sales().len(), 3);
}

/// A headquarters older than the held confirmation, played by a proxy in front of the real
/// one: `POST /api/v1/sync/confirm` is answered 405 (as a route with `GET` alone answers),
/// everything else passes, the sync socket too. Returns its address and how many confirmation
/// questions it refused.
fn headquarters_without_held_confirmation(
    target: std::net::SocketAddr,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::Shutdown;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let refused = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = refused.clone();
    // Request by request (clients send the next only after the last answer): the head, then
    // as many bytes of body as it says; after an upgrade, bytes as they come.
    let addr = proxy(target, move |_, client, mut to_server| {
        let mut to_client = client.try_clone().unwrap();
        let mut from_client = BufReader::new(client);
        loop {
            let mut head = String::new();
            loop {
                let mut line = String::new();
                match from_client.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => head.push_str(&line),
                }
                if line == "\r\n" {
                    break;
                }
            }
            let lower = head.to_ascii_lowercase();
            let length = lower
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |n| n.trim().parse::<u64>().unwrap());
            let mut body = Vec::new();
            let _ = (&mut from_client).take(length).read_to_end(&mut body);
            if head.starts_with("POST /api/v1/sync/confirm") {
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = to_client
                    .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
                continue;
            }
            if to_server.write_all(head.as_bytes()).is_err() || to_server.write_all(&body).is_err()
            {
                return;
            }
            if lower.contains("upgrade: websocket") {
                let _ = std::io::copy(&mut from_client, &mut to_server);
                let _ = to_server.shutdown(Shutdown::Both);
                return;
            }
        }
    });
    (addr, refused)
}

#[test]
fn a_till_syncs_with_a_headquarters_older_than_the_held_confirmation() {
    // Step 0: a till sells; its headquarters, reached through the stand-in, is one that
    // answers the held confirmation 405.
    let hq = Hq::demo();
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    sell_some(&till, "V003", 5);
    let target = server.address();
    let (older, refused) = headquarters_without_held_confirmation(target);

    // Step 1: the sync goes through whole: the till asked once, was refused, and asked the
    // old way until headquarters had projected every sale.
    till.synced_with(&format!("http://{older}"));
    assert!(refused.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &till)]));
    let status = till.json(&["sync", "status", "--json"]);
    assert_eq!(status["unconfirmed_sales"], 0, "{status}");
}

#[test]
fn a_till_sells_while_its_sync_waits_on_a_silent_headquarters() {
    let hq = Hq::demo();
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    till.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    // A headquarters that takes the connection and never answers: each step of the pass
    // waits out its 20 s.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    let mut sync = till
        .command()
        .args([
            "sync",
            "--timeout",
            "20",
            "--hq",
            &format!("http://{address}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    pause(500);
    assert_eq!(sync.try_wait().unwrap(), None, "the sync still waits");
    // The sale goes through at once: the pass does not hold the till while it waits (it
    // did, and a sale waited 10 s for the till, then failed "in use").
    till.sell(&["--seller", "V003", "6935780100128", "--pay", "wechat"]);
    assert_eq!(sync.try_wait().unwrap(), None, "the sync still waits");
    let _ = sync.kill();
    let _ = sync.wait();
    assert_eq!(till.sales().len(), 1);
}
