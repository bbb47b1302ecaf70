//! Interop with the JavaScript automerge-repo: a Node client (`@automerge/automerge-repo`
//! 2.5.x and its WebSocket adapter, installed into `interop/` by `.ci/run`) connects to
//! headquarters as an organizer and reads a till's ledger document. What it sums must be
//! what the till sold.

mod common;

use std::path::Path;
use std::process::Command;

use common::api::Api;
use common::hq::Hq;
use common::Till;
use serde_json::Value;

fn interop_dir() -> &'static Path {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/interop"));
    assert!(
        dir.join("node_modules/@automerge/automerge-repo").exists(),
        "the npm packages are missing: run `scripts/setup.sh --test` (scripts/setup.sh --test does)"
    );
    dir
}

fn docs(api: &Api, token: &str) -> Vec<Value> {
    let (status, docs) = api.get("/api/v1/docs", Some(token));
    assert_eq!(status, 200);
    docs.as_array().unwrap().clone()
}

#[test]
fn javascript_automerge_repo_reads_a_tills_ledger_through_hq_on_sqlite() {
    javascript_automerge_repo_reads_a_tills_ledger_through_hq(Hq::demo());
}

#[test]
fn javascript_automerge_repo_reads_a_tills_ledger_through_hq_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("interop") {
        javascript_automerge_repo_reads_a_tills_ledger_through_hq(hq);
    }
}

fn javascript_automerge_repo_reads_a_tills_ledger_through_hq(hq: Hq) {
    let dir = interop_dir();
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    till.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    for items in [
        vec!["6935780100128*2", "GZ-MJ-200"],
        vec!["2110021007501"],
        vec!["XP-CZY-5L", "LS-MH-1*3"],
    ] {
        let mut args = vec!["--seller", "V003"];
        args.extend(items);
        args.extend(["--pay", "wechat"]);
        till.sell(&args);
    }
    till.synced();

    let api = Api::new(&server.url);
    let (token, peer_id) = api.login();
    let ledger = docs(&api, &token)
        .into_iter()
        .find(|d| d["device"] == "T01")
        .expect("T01's ledger at headquarters");
    let ws = format!("{}/sync", server.url.replace("http://", "ws://"));
    let out = Command::new("node")
        .current_dir(dir)
        .args([
            "read-ledger.mjs",
            &ws,
            &token,
            &peer_id,
            ledger["doc_id"].as_str().unwrap(),
        ])
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sold: i64 = till.sale_totals().iter().map(|(_, t)| t).sum();
    assert_eq!(read["device"], "T01");
    assert_eq!(read["sales"], 3);
    assert_eq!(read["total_fen"].as_i64(), Some(sold));
    assert_eq!(read["lines"], 5);

    // Without credentials the same client gets nothing.
    let out = Command::new("node")
        .current_dir(dir)
        .args([
            "read-ledger.mjs",
            &ws,
            "org.wrong",
            &peer_id,
            ledger["doc_id"].as_str().unwrap(),
        ])
        .output()
        .unwrap();
    // Refused by headquarters (the client's adapter throws on the upgrade's 401): any failure
    // of the script, a missing module, passed for a refusal.
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an anonymous reader read the ledger");
    assert!(said.contains("Unexpected server response: 401"), "{said}");
}
