//! A listener whose connection is left half open (a failover behind a virtual address, a
//! firewall dropping an idle flow: no error, nothing heard) ends once the database stops
//! answering its pings, so that `hq serve` listens again and catches up; through a proxy on
//! 127.0.0.1 that stops passing bytes on while keeping both sockets open.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use fairpos_postgres::documents::Heartbeat;

use super::*;

/// What the proxy does: passes bytes, holds them (passing none, closing nothing), or closes.
const PASSING: u8 = 0;
const FROZEN: u8 = 1;
const CLOSED: u8 = 2;

/// A proxy to `upstream` (`host:port`) that does what `state` says. Its address.
fn freezing_proxy(upstream: String, state: Arc<AtomicU8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(&upstream) else {
                return;
            };
            for (from, to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                let state = state.clone();
                std::thread::spawn(move || pass(from, to, &state));
            }
        }
    });
    address
}

/// Passes what `from` sends to `to` while `state` says so, holds both while frozen, and
/// closes both (ending the database's connection) once closed.
fn pass(mut from: TcpStream, mut to: TcpStream, state: &AtomicU8) {
    let mut buf = [0u8; 8192];
    from.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    loop {
        match state.load(Ordering::SeqCst) {
            FROZEN => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            CLOSED => return,
            _ => {}
        }
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_left_half_open_ends_when_its_pings_go_unanswered() {
    let Some(server) = server() else { return };
    let url = fresh_database(&server).await;
    let pool = connect(&url).unwrap();
    migrate(&pool).await.unwrap();
    // postgres://USER@HOST:PORT/DB, its HOST:PORT through the proxy.
    let (head, tail) = url.split_once('@').unwrap();
    let (upstream, db) = tail.split_once('/').unwrap();
    let state = Arc::new(AtomicU8::new(PASSING));
    let proxy = freezing_proxy(upstream.to_string(), state.clone());
    let proxied = format!("{head}@{proxy}/{db}");
    let heartbeat = Heartbeat {
        every: Duration::from_millis(300),
        within: Duration::from_secs(2),
    };
    let mut listener = Listener::start_with(&proxied, &Origin::new(), &[], heartbeat)
        .await
        .unwrap();

    // While the link passes bytes, a put is heard and the pings are answered.
    let ledger = &fair(&mut Lcg(5), 3)[0];
    let doc = ledger_doc(ledger, &ledger.records);
    let id = document_id(&doc.id().key());
    put_chunks(
        &pool,
        &[(format!("{id}/snapshot/one"), doc.automerge().save())],
    )
    .await
    .unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(5), listener.next()).await;
    assert_eq!(heard.unwrap().map(|h| h.doc().clone()), Some(id.clone()));
    tokio::time::sleep(Duration::from_millis(700)).await;

    // The link goes silent: the listener ends, within a ping and its wait.
    state.store(FROZEN, Ordering::SeqCst);
    let ended = tokio::time::timeout(Duration::from_secs(8), async {
        while listener.next().await.is_some() {}
    })
    .await;
    state.store(CLOSED, Ordering::SeqCst);
    assert!(ended.is_ok(), "the listener still listens on a silent link");
}
