//! Failed logins at a venue where every stall lead's phone reaches headquarters from one
//! NAT address, against the real `fairpos hq serve` on a loopback port (clients playing
//! hosts by their loopback address), on both backends (on PostgreSQL the attempts are counted
//! in the database): a lead who mistypes five times is refused (429) alone, from that
//! address alone; the other leads behind it log in; a guesser trying account after account
//! from one address is refused every account there after 30 failures, and no one elsewhere.
//! A lead whose browser logged in to their account before (its cookie of that login) logs
//! in whatever a guesser behind the same address did, held by that browser's own failures.
//! A guesser refused again and again is logged once a minute, not once a request. A token
//! the API gave is ended by its holder.

mod common;

use std::net::IpAddr;

use common::api::Api;
use common::hq::{Hq, Server};
use serde_json::{json, Value};

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

#[test]
fn a_lead_logs_in_from_their_own_browser_whatever_a_guesser_did_on_sqlite() {
    a_lead_logs_in_from_their_own_browser_whatever_a_guesser_did(Hq::demo());
}

#[test]
fn a_lead_logs_in_from_their_own_browser_whatever_a_guesser_did_on_postgres() {
    let Some(hq) = Hq::demo_postgres("known_browser") else {
        return;
    };
    a_lead_logs_in_from_their_own_browser_whatever_a_guesser_did(hq);
}

/// Adds the stall leads `leads` (each with its stall), whose passwords are `NAME-secret-pw`.
fn add_leads(hq: &Hq, leads: &[(&str, &str)]) {
    for (lead, stall) in leads {
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
}

/// The status of an API login to `name` with `password`.
fn login(api: &Api, name: &str, password: &str) -> u16 {
    let body = json!({ "name": name, "password": password });
    api.post("/api/v1/login", None, &body).0
}

fn a_lead_mistyping_locks_out_only_themselves(hq: Hq) {
    add_leads(&hq, &[("lead1", "S01"), ("lead2", "S02")]);
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

    // A password typed in the name field is not kept in the counts (in PostgreSQL's table,
    // its WAL and dumps for ten minutes): the throttle names accounts by a MAC.
    assert_eq!(login(&home, "lead2-secret-pw", "wrong"), 401);
    if let Some(url) = hq.database_url() {
        let keys = common::postgres::psql_answer(&url, "SELECT key FROM hq_attempts");
        assert!(keys.contains("login@127.0.0.3"), "{keys}");
        assert!(!keys.contains("lead") && !keys.contains("name1"), "{keys}");
    }
}

fn a_lead_logs_in_from_their_own_browser_whatever_a_guesser_did(hq: Hq) {
    add_leads(&hq, &[("lead1", "S01")]);
    let server = hq.serve();
    let client = |address: &str| {
        let local: IpAddr = address.parse().unwrap();
        Api::from(&server.url, Some(local), None)
    };
    let (venue, home) = (client("127.0.0.2"), client("127.0.0.3"));
    // lead1 logs in on their phone at the venue: the session, and the phone known to lead1.
    let (status, set) = venue.form_login("lead1", "lead1-secret-pw", "");
    assert_eq!(status, 303, "{set:?}");
    let cookie = |name: &str| {
        let named = set.iter().find(|c| c.starts_with(&format!("{name}=")));
        named
            .unwrap_or_else(|| panic!("no {name} in {set:?}"))
            .clone()
    };
    let (session, known) = (cookie("fairpos_session"), cookie("fairpos_known"));
    assert_eq!(venue.status_with_cookie("/stalls", &session), 200);
    // And on a tablet at the stall.
    let (_, set) = venue.form_login("lead1", "lead1-secret-pw", "");
    let tablet = set.into_iter().find(|c| c.starts_with("fairpos_known="));
    let tablet = tablet.expect("the tablet known to lead1");

    // A guesser: 20 failures on lead1 from four addresses, then 30 on other names from
    // behind the venue's.
    for address in ["127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"] {
        let guesser = client(address);
        for i in 0..5 {
            assert_eq!(
                login(&guesser, "lead1", "guess"),
                401,
                "{address}, guess {i}"
            );
        }
    }
    for i in 0..30 {
        assert_eq!(login(&venue, &format!("name{i}"), "guess"), 401, "name {i}");
    }
    // lead1 with the right password, from a browser new to them: refused at the venue (the
    // address) and at home (the account), with the form as with the API.
    assert_eq!(login(&venue, "lead1", "lead1-secret-pw"), 429);
    assert_eq!(login(&home, "lead1", "lead1-secret-pw"), 429);
    assert_eq!(venue.form_login("lead1", "lead1-secret-pw", "").0, 429);
    // A cookie made up from the real one (its MAC's last digit changed) is no one's.
    let mut made_up = known.clone();
    let last = made_up.pop().unwrap();
    made_up.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        venue.form_login("lead1", "lead1-secret-pw", &made_up).0,
        429
    );
    // lead1's own phone logs in, with the session it held: that session ends (its cookie
    // is overwritten; it stayed open, out of the holder's reach, for twelve hours).
    let phone = format!("{known}; {session}");
    assert_eq!(venue.form_login("lead1", "lead1-secret-pw", &phone).0, 303);
    assert_ne!(venue.status_with_cookie("/stalls", &session), 200);
    let audit = hq.json(&["hq", "audit", "--json"]);
    let ended = audit.as_array().unwrap().iter().any(|e| {
        e["action"] == "logout"
            && e["actor"] == "lead1"
            && e["detail"] == "dashboard: a new login on the browser"
    });
    assert!(ended, "{audit}");
    // It is held by its own failures: five mistypes, then refused, the right password too.
    for i in 0..5 {
        let typo = format!("typo-{i}");
        assert_eq!(venue.form_login("lead1", &typo, &known).0, 401, "typo {i}");
    }
    assert_eq!(venue.form_login("lead1", "lead1-secret-pw", &known).0, 429);
    // The tablet logs in; after a new password it is no longer known, and is refused with
    // the address's and the account's limits until they let go.
    assert_eq!(venue.form_login("lead1", "lead1-secret-pw", &tablet).0, 303);
    hq.ok(&[
        "hq",
        "user",
        "passwd",
        "lead1",
        "--password",
        "lead1-new-pw",
    ]);
    assert_eq!(venue.form_login("lead1", "lead1-new-pw", &tablet).0, 429);
}

#[test]
fn a_guesser_refused_again_and_again_is_logged_once_a_minute() {
    let hq = Hq::demo();
    let log = hq.data().join("serve.log");
    let file = std::fs::File::create(&log).unwrap();
    let server = Server::start_logging(hq.data(), &[], &[], file);
    let guesser = Api::from(&server.url, Some("127.0.0.5".parse().unwrap()), None);
    let statuses: Vec<u16> = (0..40)
        .map(|i| login(&guesser, &format!("name{i}"), "guess"))
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 10);
    server.stop();
    let log = std::fs::read_to_string(&log).unwrap();
    let refused = "login from 127.0.0.5 refused: too many failures";
    assert_eq!(log.matches(refused).count(), 1, "{log}");
}

/// A token `POST /api/v1/login` gave is ended by its holder with `POST /logout` and the
/// token as bearer (the logout read the cookie alone: such a session stayed open for its
/// twelve hours). `GET /logout` only asks (a link, a prefetch or another site's image logged
/// the organizer out), and a post from another site's page is refused.
#[test]
fn an_api_token_is_ended_by_its_holder() {
    let hq = Hq::demo();
    let server = hq.serve();
    let api = Api::new(&server.url);
    let token = api.token_of("organizer", common::hq::PASSWORD).unwrap();
    assert_eq!(api.get("/api/v1/reconciliation", Some(&token)).0, 200);
    let (status, _, page) = api.fetch("/logout", Some(&token), false);
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"<form method="post" action="/logout">"#),
        "{page}"
    );
    assert_eq!(api.get("/api/v1/reconciliation", Some(&token)).0, 200);
    let cookie = format!("fairpos_session={token}");
    for site in ["cross-site", "same-site"] {
        let headers = [("cookie", cookie.as_str()), ("sec-fetch-site", site)];
        assert_eq!(api.post_with("/logout", &headers, &Value::Null).0, 403);
    }
    let forged = [
        ("cookie", cookie.as_str()),
        ("origin", "http://elsewhere.example"),
    ];
    assert_eq!(api.post_with("/logout", &forged, &Value::Null).0, 403);
    assert_eq!(api.get("/api/v1/reconciliation", Some(&token)).0, 200);
    assert_eq!(api.post("/logout", Some(&token), &Value::Null).0, 303);
    assert_eq!(api.get("/api/v1/reconciliation", Some(&token)).0, 401);
}
