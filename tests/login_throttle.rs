//! Failed logins at a venue where every stall lead's phone reaches headquarters from one
//! NAT address, against the real `fairpos hq serve` on a loopback port (clients playing
//! hosts by their loopback address), on both backends (on PostgreSQL the attempts are counted
//! in the database): a lead who mistypes five times is refused (429) alone, from that
//! address alone; the other leads behind it log in; a guesser trying account after account
//! from one address is refused every account there after 30 failures, and no one elsewhere.

mod common;

use std::net::IpAddr;

use common::hq::{Api, Hq};
use serde_json::json;

#[test]
fn a_lead_mistyping_locks_out_only_themselves_on_sqlite() {
    a_lead_mistyping_locks_out_only_themselves(Hq::demo());
}

#[test]
fn a_lead_mistyping_locks_out_only_themselves_on_postgres() {
    let Some(hq) = Hq::demo_postgres("login_throttle") else {
        return;
    };
    a_lead_mistyping_locks_out_only_themselves(hq);
}

/// The status of an API login to `name` with `password`.
fn login(api: &Api, name: &str, password: &str) -> u16 {
    let body = json!({ "name": name, "password": password });
    api.post("/api/v1/login", None, &body).0
}

fn a_lead_mistyping_locks_out_only_themselves(hq: Hq) {
    for (lead, stall) in [("lead1", "S01"), ("lead2", "S02")] {
        let password = format!("{lead}-secret-pw");
        hq.ok(&[
            "hq",
            "user",
            "add",
            lead,
            "--role",
            "stall-lead",
            "--stall",
            stall,
            "--password",
            &password,
        ]);
    }
    let server = hq.serve();
    let client = |address: &str| {
        let local: IpAddr = address.parse().unwrap();
        Api::from(&server.url, Some(local), None)
    };
    let (venue, home, guesser) = (
        client("127.0.0.2"),
        client("127.0.0.3"),
        client("127.0.0.4"),
    );

    // lead1 mistypes five times at the venue: then refused there, the right password too.
    for i in 0..5 {
        assert_eq!(
            login(&venue, "lead1", &format!("typo-{i}")),
            401,
            "typo {i}"
        );
    }
    assert_eq!(login(&venue, "lead1", "lead1-secret-pw"), 429);
    // lead2, behind the same address, logs in; so does lead1 from home.
    assert_eq!(login(&venue, "lead2", "lead2-secret-pw"), 200);
    assert_eq!(login(&home, "lead1", "lead1-secret-pw"), 200);

    // A guesser trying names from one address: 30 failures, then every account is refused
    // from there, a right password too; the venue is not.
    for i in 0..30 {
        assert_eq!(
            login(&guesser, &format!("name{i}"), "guess"),
            401,
            "name {i}"
        );
    }
    assert_eq!(login(&guesser, "lead2", "lead2-secret-pw"), 429);
    assert_eq!(login(&venue, "lead2", "lead2-secret-pw"), 200);
}
