//! A fair hub and a restored headquarters: a hub enrolled after the backup enrols again and
//! relays what it holds; a running hub announces its ledgers again.

use super::*;

#[test]
fn a_hub_enrolled_after_the_backup_enrols_again_and_relays_what_it_holds() {
    let hq = Hq::demo();
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("before-the-venue.db");
    let server = hq.serve();
    let url = server.url.clone();
    let till = Till::enrolled(&url, &hq.add_device("T01", "S01"));
    hq.ok(&["hq", "backup", backup.to_str().unwrap()]);

    // The venue's hub is enrolled after the backup; T01 sells and syncs with it alone.
    let hub = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    hub.ok(&["hq", "enroll", "--hq", &url, "--code", &hq.add_hub("H1")]);
    let hub_server = Server::start(hub.data(), &["--upstream", &url]);
    sell_some(&till, "V003", 3);
    till.synced_with(&hub_server.url);
    hub_server.stop();

    // Headquarters is restored from before the hub: its relay would be refused. Given a
    // new code, the hub enrols again (a code for another device refused first) and relays
    // what it holds.
    server.stop();
    hq.ok(&["hq", "restore", backup.to_str().unwrap()]);
    assert_eq!(hq.sales().len(), 0);
    let server = Server::start(hq.data(), &["--listen", url.trim_start_matches("http://")]);
    let hub_server = Server::start(hub.data(), &["--upstream", &url]);
    let since = std::time::Instant::now();
    let refused_h1 = |events: String| {
        events
            .lines()
            .any(|l| l.contains("H1") && l.contains("refused"))
    };
    while !refused_h1(hq.events()) {
        assert!(
            since.elapsed() < std::time::Duration::from_secs(30),
            "the hub's relay was never refused"
        );
        common::hq::pause(200);
    }
    assert_eq!(hq.sales().len(), 0, "{}", hq.events());
    // Not while it serves (it would go on relaying with the secret it started with).
    let code = hq.add_hub("H1");
    let out = hub.run(&["hq", "enroll", "--again", "--hq", &url, "--code", &code]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("stop `hq serve` first"), "{said}");
    hub_server.stop();
    let other = hq.add_hub("H2");
    let out = hub.run(&["hq", "enroll", "--again", "--hq", &url, "--code", &other]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("this code is for H2, not H1"), "{said}");
    let said = hub.ok(&["hq", "enroll", "--again", "--hq", &url, "--code", &code]);
    assert!(
        said.contains("hub H1") && said.contains("enrolled again"),
        "{said}"
    );
    let hub_server = Server::start(hub.data(), &["--upstream", &url]);
    let since = std::time::Instant::now();
    while hq.sales().len() < 3 {
        assert!(
            since.elapsed() < std::time::Duration::from_secs(30),
            "the hub never relayed"
        );
        common::hq::pause(200);
    }
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &till)]));
    hub_server.stop();
    server.stop();
}

/// A hub that runs on while headquarters is restored from a backup taken before the hub
/// relayed a till's first sale: the restored headquarters lacks the ledger's announcement,
/// and the till, confirmed by the hub, does not sync again. The hub announces every ledger
/// it holds again on its new link, and the sales reach headquarters without a restart.
#[test]
fn a_running_hub_announces_again_to_a_restored_headquarters() {
    let hq = Hq::demo();
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("before-the-relay.db");
    let server = hq.serve();
    let url = server.url.clone();
    let till = Till::enrolled(&url, &hq.add_device("T01", "S01"));
    let hub = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    hub.ok(&["hq", "enroll", "--hq", &url, "--code", &hq.add_hub("H1")]);
    let hub_server = Server::start(hub.data(), &["--upstream", &url]);
    hq.ok(&["hq", "backup", backup.to_str().unwrap()]);
    sell_some(&till, "V003", 3);
    till.synced_with(&hub_server.url);
    let reach = |n: usize, what: &str| {
        let since = std::time::Instant::now();
        while hq.sales().len() < n {
            assert!(
                since.elapsed() < std::time::Duration::from_secs(40),
                "{what}"
            );
            common::hq::pause(200);
        }
    };
    reach(3, "the hub never relayed");

    server.stop();
    hq.ok(&["hq", "restore", backup.to_str().unwrap()]);
    assert_eq!(hq.sales().len(), 0);
    let server = Server::start(hq.data(), &["--listen", url.trim_start_matches("http://")]);
    reach(3, "the running hub never announced its ledger again");
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &till)]));
    hub_server.stop();
    server.stop();
}
