//! What headquarters refuses, and what it logs of it: wrong secrets and revoked tills, a till
//! not enrolled, a ledger missing a stored change, a till writing into another till's ledger.

use super::*;

#[test]
fn wrong_secrets_and_revoked_tills_are_refused_on_sqlite() {
    wrong_secrets_and_revoked_tills_are_refused(Hq::demo());
}

#[test]
fn wrong_secrets_and_revoked_tills_are_refused_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("refused") {
        wrong_secrets_and_revoked_tills_are_refused(hq);
    }
}

fn wrong_secrets_and_revoked_tills_are_refused(hq: Hq) {
    let server = hq.serve();
    // A till of a stall the fair does not have is refused a code.
    let out = hq.run(&["hq", "add-device", "--device", "T09", "--stall", "S99"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("no stall S99 in this fair"), "{said}");
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let other_code = hq.add_device("T02", "S02");
    let other = Till::enrolled(&server.url, &other_code);
    sell_some(&till, "V003", 2);

    // A code works once.
    let code = hq.add_device("T03", "S03");
    Till::enrolled(&server.url, &code);
    let again = Till::empty();
    again.fails(
        &[
            "enroll",
            "--hq",
            &server.url,
            "--code",
            &code,
            "--lead-pin",
            "1357",
        ],
        1,
        "has been used",
    );

    // A till whose secret is wrong is refused, in one line, and headquarters logs it.
    till.db()
        .execute(
            "UPDATE meta SET value = 'f00d' WHERE key = 'device_secret'",
            [],
        )
        .unwrap();
    let out = till.sync(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("headquarters refused"), "{err}");
    assert!(hq.events().contains("authentication failed"));
    assert!(hq.sales().is_empty());
    // Anyone may send any token: a refusal is logged once a minute for each device named,
    // and a token naming none by a device code's shape as "(no device)", whatever it says.
    let api = Api::new(&server.url);
    let refusals = |who: &str| {
        let events = hq.events();
        let of = format!(" {who} ");
        events
            .lines()
            .filter(|l| l.contains(&of) && l.contains("authentication failed"))
            .count()
    };
    let before = refusals("T01");
    assert!(before >= 1);
    for _ in 0..5 {
        assert_eq!(api.get("/api/v1/docs?token=T01.f00d", None).0, 401);
    }
    // A NUL, which PostgreSQL cannot take as text, is refused like any other (it was
    // answered 500 there).
    for forged in ["%0Aforged%20line.x", "x%1B%5B2J.y", "%00.x", "T01%00.f00d"] {
        let path = format!("/api/v1/docs?token={forged}");
        assert_eq!(api.get(&path, None).0, 401, "{forged}");
    }
    // And an organizer's request naming one: the request's fault, not headquarters'.
    // (SQLite holds a NUL: no such unit there.)
    let (organizer, _) = api.login();
    let (status, answer) = api.get("/api/v1/units/%00", Some(&organizer));
    let said = answer["error"].as_str().unwrap_or_default();
    if hq.on_postgres() {
        assert_eq!(status, 400, "{answer}");
        assert!(said.contains("a NUL") && !said.contains("UTF8"), "{said}");
    } else {
        assert_eq!(status, 404, "{answer}");
    }
    // Device codes made up, one after another: one event for them all, naming the first.
    for made_up in ["T77", "T78", "Z9"] {
        let path = format!("/api/v1/docs?token={made_up}.f00d");
        assert_eq!(api.get(&path, None).0, 401);
    }
    assert_eq!(refusals("T01"), before, "{}", hq.events());
    assert_eq!(refusals("(no device)"), 1, "{}", hq.events());
    assert_eq!(refusals("T77"), 1, "{}", hq.events());
    let unknown = hq.events().matches("no device headquarters knows").count();
    assert_eq!(unknown, 1, "{}", hq.events());
    assert!(!hq.events().contains("forged"), "{}", hq.events());

    // A revoked till is shut out.
    sell_some(&other, "V004", 1);
    other.synced();
    let actor: String = other
        .db()
        .query_row("SELECT value FROM meta WHERE key = 'actor'", [], |r| {
            r.get(0)
        })
        .unwrap();
    // The till's signing key, which a retry of its enrolment sends again.
    let signing: String = other
        .db()
        .query_row(
            "SELECT value FROM meta WHERE key = 'signing_secret'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let signing_key = fairpos_sync::keys::public_key(&signing);
    let enrol_with_old_code = || {
        let body = serde_json::json!({
            "code": other_code,
            "actor": actor,
            "signing_key": signing_key,
        });
        api.post("/api/v1/enroll", None, &body)
    };
    // Until then its code may be tried again by its actor and signing key (a first answer
    // lost), which gives it another secret: the till enrols again with it to take one, and
    // syncs. Without its signing key, not (anyone holding the slip knows the actor).
    let body = serde_json::json!({"code": other_code, "actor": actor});
    assert_eq!(api.post("/api/v1/enroll", None, &body).0, 403);
    assert_eq!(enrol_with_old_code().0, 200);
    assert!(!other.sync(&[]).status.success(), "its secret was replaced");
    other.ok(&[
        "enroll",
        "--again",
        "--hq",
        &server.url,
        "--code",
        &other_code,
        "--lead-pin",
        common::PIN,
    ]);
    other.synced();
    hq.ok(&["hq", "revoke-device", "T02"]);
    let out = other.sync(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"));
    // Its old code, tried again by its actor, does not undo the revocation.
    let (status, answer) = enrol_with_old_code();
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"], "unknown enrolment code");
    assert!(!other.sync(&[]).status.success(), "T02 is still revoked");
    // A new code for T02. A new till may not take it: T02's ledgers are held, and its
    // numbers would start again at 1 (its records refused as T02's, and T02 found
    // complete). The till that wrote them takes it with `enroll --again`, and syncs on;
    // its old code takes nothing from it.
    let new_code = hq.add_device("T02", "S02");
    let enrol = ["enroll", "--hq", &server.url, "--code", &new_code];
    let pin = ["--lead-pin", common::PIN];
    Till::empty().fails(
        &[&enrol[..], &pin].concat(),
        1,
        "T02 has ledgers at headquarters already",
    );
    other.ok(&[&enrol[..1], &["--again"], &enrol[1..], &pin].concat());
    common::sell_more(&other, "V004", 1);
    other.synced();
    assert_eq!(enrol_with_old_code().0, 403);
    other.synced();
}

#[test]
fn sync_needs_an_enrolled_till() {
    let till = Till::demo();
    till.fails(&["sync"], 2, "not enrolled");
    let start = Instant::now();
    let hq = Hq::demo();
    let out = hq.run(&["hq", "add-device", "--device", "t1", "--stall", "S01"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_ledger_missing_a_stored_change_is_refused_by_the_pass_and_nothing_of_it_is_counted() {
    // Step 0: a till sells three sales; one of its stored ledger changes (a sale's) then goes
    // missing, so the ledger's later changes depend on one that is not there. The stored
    // record count is left as it was, so that the till still opens (its tables agree with
    // it) and it is the sync pass that meets the damage.
    let hq = Hq::demo();
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    sell_some(&till, "V003", 3);
    let conn = till.db();
    let removed = conn
        .execute(
            "DELETE FROM ledger_changes WHERE rowid =
                 (SELECT rowid FROM ledger_changes ORDER BY rowid LIMIT 1 OFFSET 2)",
            [],
        )
        .unwrap();
    assert_eq!(removed, 1);
    conn.execute("UPDATE ledger_docs SET records = records + 1", [])
        .unwrap();
    drop(conn);

    // Step 1: the sync ends with one line naming the ledger and why, the pass records it
    // as the last error, and headquarters counts none of the sales that ledger holds.
    let out = till.sync(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let why = "1 change(s) it depends on are not stored";
    assert!(err.contains(why), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let status = till.json(&["sync", "status", "--json"]);
    assert!(
        status["last_error"].as_str().unwrap().contains(why),
        "{status}"
    );
    assert!(hq.sales().is_empty());
}

/// `doc` with one more change, made by an actor that is not its till's: a forged sale.
fn forge(doc: &fairpos_sync::LedgerDoc, device: &str) -> automerge::Automerge {
    let mut forged =
        fairpos_sync::LedgerDoc::open(doc.id().clone(), doc.automerge().fork()).unwrap();
    let mut record = match doc
        .records()
        .unwrap()
        .into_iter()
        .find(|r| r.kind() == "sale")
    {
        Some(fairpos_sync::Record::Sale(s)) => s,
        _ => panic!("no sale to copy"),
    };
    record.header.id = "00000000-0000-4000-8000-000000000000".into();
    record.header.device = device.into();
    record.header.seq = 999;
    record.sale_seq = 999;
    record.number = format!("{device}-000999");
    record.total_fen = 1;
    forged
        .append(&fairpos_sync::Record::Sale(record), 0)
        .unwrap();
    forged.automerge().clone()
}

#[test]
fn a_till_writing_into_another_tills_ledger_is_refused_and_logged_on_sqlite() {
    a_till_writing_into_another_tills_ledger_is_refused_and_logged(Hq::demo());
}

#[test]
fn a_till_writing_into_another_tills_ledger_is_refused_and_logged_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("intrusion") {
        a_till_writing_into_another_tills_ledger_is_refused_and_logged(hq);
    }
}

/// Sends the document `bytes` as the ledger `key` to headquarters at `url` over samod, as
/// `device` (whose secret is `secret`), skipping the announcement a till's sync makes; waits
/// two seconds for it to get there.
fn push_over_samod(url: &str, device: &str, secret: &str, key: &str, bytes: Vec<u8>) {
    use fairpos_sync::samod::storage::{InMemoryStorage, Storage, StorageKey};
    use fairpos_sync::samod::{BackoffConfig, PeerId, Repo};

    let token = format!("{device}.{secret}");
    let trust = fairpos_sync::tls::Trust::system().unwrap();
    let hq_client = fairpos_sync::client::HqClient::new(url, &trust).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = InMemoryStorage::new();
        let id = fairpos_sync::ids::document_id(key);
        let k = StorageKey::from_parts([id.to_string().as_str(), "snapshot", "x"]).unwrap();
        store.put(k, bytes).await;
        let repo = Repo::build_tokio()
            .with_storage(store)
            .with_peer_id(PeerId::from(format!("device:{device}")))
            .load()
            .await;
        let dialer = repo
            .dial(
                BackoffConfig::default(),
                std::sync::Arc::new(fairpos_sync::net::WsDialer::to(&hq_client, &token)),
            )
            .unwrap();
        dialer.established().await.unwrap();
        let _handle = repo.find(id).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        repo.stop().await;
    });
}

#[test]
fn a_ledger_refused_before_a_restart_is_not_refused_again_when_headquarters_starts() {
    // Step 0: two tills sell and sync.
    let hq = Hq::demo();
    let server = hq.serve();
    let t1 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let t2 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    sell_some(&t1, "V003", 2);
    t1.synced();
    let before = sorted(hq.sales());

    // Step 1: T01's own ledger comes with a change by an actor that is not T01's: stored by
    // samod, refused by the projection, logged once.
    let ledger = first_ledger(&t1);
    let forged = forge(&ledger, "T01");
    push_over_samod(
        &server.url,
        "T01",
        &t1.secret(),
        &ledger.id().key(),
        forged.save(),
    );
    let refusals = || hq.events().matches("forged ledger change").count();
    let waited = Instant::now();
    while refusals() == 0 && waited.elapsed() < Duration::from_secs(20) {
        pause(200);
    }
    assert_eq!(refusals(), 1, "{}", hq.events());

    // Step 2: headquarters restarts. Its first passes take the documents stored before, but
    // not the refused ledger: T02's sync, confirmed once a pass has projected it, comes after
    // them, and the refusal is still logged once; the sales are as they were.
    let listen = server.url.trim_start_matches("http://").to_string();
    server.stop();
    let _server = Server::start(hq.data(), &["--listen", &listen]);
    sell_some(&t2, "V004", 1);
    t2.synced();
    assert_eq!(refusals(), 1, "{}", hq.events());
    let mut expected_now = before;
    expected_now.extend(expected(&[("T02", &t2)]));
    assert_eq!(sorted(hq.sales()), sorted(expected_now));
}

fn a_till_writing_into_another_tills_ledger_is_refused_and_logged(hq: Hq) {
    // Step 0: T01 sells and syncs; headquarters knows its ledger as T01's.
    let server = hq.serve();
    let t1 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let t2 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    sell_some(&t1, "V003", 3);
    t1.synced();
    let before = sorted(hq.sales());

    // Step 1: with T02's credentials, someone pushes a forged version of T01's ledger over
    // samod, skipping the announcement.
    let ledger = first_ledger(&t1);
    let key = ledger.id().key();
    let forged = forge(&ledger, "T01");
    push_over_samod(&server.url, "T02", &t2.secret(), &key, forged.save());

    // Step 2: headquarters holds T01's sales as they were, and says who tried what.
    pause(500);
    assert_eq!(sorted(hq.sales()), before);
    let events = hq.events();
    assert!(
        events.contains(&format!(
            "T02 sent sync messages for {key}, the ledger of T01"
        )),
        "{events}"
    );

    // Step 3: the same forgery on a USB stick, signed with T02's key, is refused.
    let mut bundle = fairpos_sync::bundle::Bundle {
        format: fairpos_sync::bundle::FORMAT.into(),
        fair: ledger.id().fair.clone(),
        source: "T02".into(),
        created_at: "2026-11-22T12:00:00Z".into(),
        docs: vec![fairpos_sync::bundle::BundleDoc::new(
            key.clone(),
            &forged.save(),
        )],
        signature: String::new(),
    };
    bundle.sign(&t2.signing_secret());
    let file = t2.data().join("forged.bundle");
    std::fs::write(&file, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let out = hq.run(&["hq", "bundle", "import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("carries the ledger of T01"), "{err}");

    // And T02's own ledger with a change by another actor: a forged ledger change.
    sell_some(&t2, "V004", 1);
    let own = first_ledger(&t2);
    let forged_own = forge(&own, "T02");
    bundle.docs = vec![fairpos_sync::bundle::BundleDoc::new(
        own.id().key(),
        &forged_own.save(),
    )];
    bundle.sign(&t2.signing_secret());
    std::fs::write(&file, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let out = hq.run(&["hq", "bundle", "import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("forged ledger change"), "{err}");
    assert_eq!(sorted(hq.sales()), before);
}

#[test]
fn a_database_that_fails_to_check_a_token_is_headquarters_failure_not_a_refusal() {
    let hq = Hq::demo();
    let server = hq.serve();
    let api = Api::new(&server.url);
    assert_eq!(api.get("/api/v1/docs?token=T01.f00d", None).0, 401);
    // The devices' table gone from under the server: checking a till's token fails.
    let db = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
    db.execute_batch("ALTER TABLE devices RENAME TO devices_gone")
        .unwrap();
    let (status, answer) = api.get("/api/v1/docs?token=T01.f00d", None);
    // Before, 401 with SQLite's words: a till's sync gave up for good on a refusal.
    assert_eq!(status, 500, "{answer}");
    let said = answer["error"].as_str().unwrap();
    assert!(
        !said.contains("devices"),
        "the database's words reach the client: {said}"
    );
    db.execute_batch("ALTER TABLE devices_gone RENAME TO devices")
        .unwrap();
    assert_eq!(api.get("/api/v1/docs?token=T01.f00d", None).0, 401);
}

#[test]
fn a_bundle_with_a_ledger_refused_brings_its_other_days_on_sqlite() {
    a_bundle_with_a_ledger_refused_brings_its_other_days(Hq::demo());
}

#[test]
fn a_bundle_with_a_ledger_refused_brings_its_other_days_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("bundle_refused") {
        a_bundle_with_a_ledger_refused_brings_its_other_days(hq);
    }
}

/// A till's bundle whose first day's ledger is refused (its own actor wrote an amount no
/// till writes) brings the later days all the same, and says which was refused. The import
/// stopped at the refusal, and a till exports every ledger it holds: its USB path stayed
/// shut, however often the stick came.
fn a_bundle_with_a_ledger_refused_brings_its_other_days(hq: Hq) {
    use fairpos_sync::record::{CashMoveRecord, Header};
    let server = hq.serve();
    let mut till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    server.stop();
    sell_some(&till, "V003", 2);
    till.now = "2026-11-23T10:00:00+08:00".into();
    sell_more(&till, "V003", 3);

    let conn = till.db();
    let meta = |key: &str| -> String {
        let sql = "SELECT value FROM meta WHERE key = ?1";
        conn.query_row(sql, [key], |r| r.get(0)).unwrap()
    };
    let actor = fairpos_sync::ActorId::try_from(meta("actor").as_str()).unwrap();
    let (mut docs, mut fair) = (Vec::new(), String::new());
    for stored in fairpos_sync::storage::stored_docs(&conn).unwrap() {
        fair.clone_from(&stored.id.fair);
        let mut doc = fairpos_sync::storage::load(&conn, &stored.id)
            .unwrap()
            .unwrap();
        if stored.id.day == "2026-11-22" {
            doc.set_actor(actor.clone());
            let shift = match &doc.records().unwrap()[0] {
                fairpos_sync::Record::ShiftOpen(open) => open.shift.clone(),
                other => panic!("{other:?}"),
            };
            let implausible = fairpos_sync::Record::CashMove(CashMoveRecord {
                header: Header {
                    id: "00000000-0000-4000-8000-000000000001".into(),
                    device: "T01".into(),
                    seq: 999,
                    at: "2026-11-22T18:00:00+08:00".into(),
                },
                shift,
                amount_fen: i64::MAX,
                reason: "找零".into(),
            });
            doc.append(&implausible, 0).unwrap();
        }
        let saved = doc.automerge().save();
        docs.push(fairpos_sync::bundle::BundleDoc::new(
            stored.id.key(),
            &saved,
        ));
    }
    let mut bundle = fairpos_sync::bundle::Bundle {
        format: fairpos_sync::bundle::FORMAT.into(),
        fair,
        source: "T01".into(),
        created_at: "2026-11-23T18:00:00Z".into(),
        docs,
        signature: String::new(),
    };
    bundle.sign(&till.signing_secret());
    let file = till.data().join("t01.bundle");
    std::fs::write(&file, serde_json::to_vec(&bundle).unwrap()).unwrap();

    let out = hq.run(&["hq", "bundle", "import", file.to_str().unwrap()]);
    let (said, printed) = (
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout),
    );
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("/T01/2026-11-22: ")
            && said.contains("is beyond what a till takes")
            && said.contains("1 of the bundle's ledgers refused (above), the others imported"),
        "{said}"
    );
    assert!(printed.contains("1 documents, 3 new records"), "{printed}");
    assert_eq!(hq.sales().len(), 3, "the second day's sales");
}
