//! A till revoked after the backup (its hardware failed) never syncs again: its last sales
//! are in the database the restore replaces, and nowhere else headquarters can reach. The
//! restore carries every ledger's changes over from it, and the restored headquarters holds
//! them once `hq serve` starts, each sale once.

use super::*;

#[test]
fn a_restore_carries_over_the_sales_of_a_till_revoked_since_the_backup() {
    let hq = Hq::demo();
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("noon.backup");

    // Morning: T01 sells three and syncs; at noon headquarters is backed up.
    let server = hq.serve();
    let url = server.url.clone();
    let t1 = Till::enrolled(&url, &hq.add_device("T01", "S01"));
    sell_some(&t1, "V003", 3);
    t1.synced();
    hq.ok(&["hq", "backup", backup.to_str().unwrap()]);

    // Afternoon: T01 sells two more and syncs, then breaks down and is revoked.
    sell_more(&t1, "V003", 2);
    t1.synced();
    hq.ok(&["hq", "revoke-device", "T01"]);
    assert_eq!(hq.sales().len(), 5);
    server.stop();

    // Evening: headquarters is restored from noon's backup.
    let said = hq.ok(&["hq", "restore", backup.to_str().unwrap()]);
    assert!(
        said.contains("1 ledgers' changes synced since the backup were carried over"),
        "{said}"
    );
    assert!(said.contains("revoked again: T01"), "{said}");

    // Served again, headquarters holds all five, once; T01 stays revoked.
    let server = Server::start(hq.data(), &["--listen", url.trim_start_matches("http://")]);
    let held = common::within_10_s(|| (hq.sales().len() == 5).then_some(()));
    assert!(held.is_some(), "{:?}", hq.sales());
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &t1)]));
    assert!(!t1.sync(&[]).status.success(), "T01 is revoked");
    // A second restore of the same backup over it carries the same again: still once.
    server.stop();
    let said = hq.ok(&["hq", "restore", backup.to_str().unwrap()]);
    assert!(said.contains("1 ledgers' changes"), "{said}");
    let server = hq.serve();
    let held = common::within_10_s(|| (hq.sales().len() == 5).then_some(()));
    assert!(held.is_some(), "{:?}", hq.sales());
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &t1)]));
    server.stop();
}
