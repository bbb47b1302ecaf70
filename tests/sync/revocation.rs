//! A revocation made while a till's sync session is open: headquarters shuts the till out of
//! it, and refuses its next one; a new code lets it sync on, every sale held once. The
//! revocation is written to the database by the command line. On PostgreSQL two `hq serve`
//! processes serve, the session open on the second, which learns of the revocation from the
//! database (each process takes them every second); on SQLite one process serves.

use super::*;
use fairpos_sync::samod::{ConnectionId, DocHandle, Repo, ShareConfig};

#[test]
fn a_till_revoked_is_shut_out_of_its_open_session_on_sqlite() {
    a_till_revoked_is_shut_out_of_its_open_session(Hq::demo());
}

#[test]
fn a_till_revoked_while_two_processes_serve_is_shut_out_of_its_open_session_by_the_other() {
    if let Some(hq) = Hq::demo_postgres("revoked_mid_session") {
        a_till_revoked_is_shut_out_of_its_open_session(hq);
    }
}

fn a_till_revoked_is_shut_out_of_its_open_session(hq: Hq) {
    let first = hq.serve();
    // SQLite's headquarters is served by one process: "the second" is the first.
    let other = hq.on_postgres().then(|| Server::start(hq.data(), &[]));
    let second = other.as_ref().unwrap_or(&first);
    eprintln!("1. T02 enrols through the first process, sells, and syncs through the second");
    let till = Till::enrolled(&first.url, &hq.add_device("T02", "S02"));
    sell_some(&till, "V004", 2);
    till.synced_with(&second.url);
    assert_eq!(sorted(hq.sales()), expected(&[("T02", &till)]));

    eprintln!("2. a sync session of T02's opens on the second process, and holds");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let session = runtime.block_on(Session::open(&till, &second.url));
    for handle in &session.ledgers {
        assert!(
            runtime.block_on(session.held(handle, Duration::from_secs(10))),
            "the second process does not say it holds T02's ledger"
        );
    }

    eprintln!("3. T02 is revoked on the command line, which writes to the database");
    hq.ok(&["hq", "revoke-device", "T02"]);
    // Each process takes the revocations from the database every second.
    std::thread::sleep(Duration::from_secs(5));

    eprintln!("4. a sale T02 makes now, sent on its open session, is not taken");
    common::sell_more(&till, "V004", 1);
    let conn = till.db();
    let mut grown = Vec::new();
    for stored in fairpos_sync::storage::stored_docs(&conn).unwrap() {
        let id = fairpos_sync::ids::document_id(&stored.id.key());
        let Some(ledger) = session.ledgers.iter().find(|h| *h.document_id() == id) else {
            continue;
        };
        let mut doc = fairpos_sync::storage::load(&conn, &stored.id)
            .unwrap()
            .unwrap()
            .automerge()
            .clone();
        let before = ledger.with_document(|held| held.get_heads());
        ledger.with_document(|held| held.merge(&mut doc).unwrap());
        if ledger.with_document(|held| held.get_heads()) != before {
            grown.push(ledger.clone());
        }
    }
    assert_eq!(grown.len(), 1, "the sale is in a ledger the session holds");
    assert!(
        !runtime.block_on(session.held(&grown[0], Duration::from_secs(4))),
        "the second process took a change of a revoked till on a session opened before"
    );
    let held_then = sorted(hq.sales());
    assert_eq!(held_then.len(), 2, "{held_then:?}");
    runtime.block_on(session.repo.stop());

    eprintln!("5. its next sync is refused by either process");
    for server in [&first, second] {
        let out = till.sync(&["--hq", &server.url]);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{said}");
        assert!(said.contains("refused"), "{said}");
    }
    assert_eq!(sorted(hq.sales()), held_then);

    eprintln!(
        "6. a new code, taken through the second process, lets T02 sync on through the first"
    );
    let code = hq.add_device("T02", "S02");
    till.ok(&[
        "enroll",
        "--again",
        "--hq",
        &second.url,
        "--code",
        &code,
        "--lead-pin",
        common::PIN,
    ]);
    // Enrolled again, nothing is confirmed until a pass confirms it (the headquarters of
    // before said what it held).
    let status = till.json(&["sync", "status", "--json"]);
    assert_eq!(status["unconfirmed_sales"], 3, "{status}");
    till.synced_with(&first.url);
    assert_eq!(sorted(hq.sales()), expected(&[("T02", &till)]));
    assert_eq!(hq.sales().len(), 3);
}

/// A till's own sync session, opened by hand on one process, with copies of its ledgers.
struct Session {
    repo: Repo,
    conn: ConnectionId,
    ledgers: Vec<DocHandle>,
    // Kept for the session's life: dropping it ends the connection.
    _dialer: fairpos_sync::samod::DialerHandle<fairpos_sync::net::Refused>,
}

impl Session {
    async fn open(till: &Till, url: &str) -> Session {
        let conn = till.db();
        let mut seeds = Vec::new();
        for stored in fairpos_sync::storage::stored_docs(&conn).unwrap() {
            let doc = fairpos_sync::storage::load(&conn, &stored.id)
                .unwrap()
                .unwrap();
            seeds.push(fairpos_sync::net::seed(&doc));
        }
        let device = "T02";
        let repo = fairpos_sync::net::seeded_repo(&seeds, &format!("device:{device}"), |_, _| {
            ShareConfig::read_only()
        })
        .await
        .unwrap();
        let trust = fairpos_sync::tls::Trust::system().unwrap();
        let client = fairpos_sync::client::HqClient::new(url, &trust).unwrap();
        let token = fairpos_sync::protocol::device_token(device, &till.secret());
        let (dialer, conn) =
            fairpos_sync::net::dial(&repo, &client, &token, Duration::from_secs(10))
                .await
                .unwrap();
        let mut ledgers = Vec::new();
        for (id, _) in &seeds {
            ledgers.push(repo.find(id.clone()).await.unwrap().unwrap());
        }
        Session {
            repo,
            conn,
            ledgers,
            _dialer: dialer,
        }
    }

    /// Whether the process says it holds every change of `ledger` within `limit`.
    async fn held(&self, ledger: &DocHandle, limit: Duration) -> bool {
        tokio::time::timeout(limit, ledger.they_have_our_changes(self.conn))
            .await
            .is_ok()
    }
}
