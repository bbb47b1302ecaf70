//! The organizers' dashboard in a real browser: headless Chromium (Debian's `chromium`, driven
//! by `interop/dashboard.mjs` through playwright-core) logs in to a real `fairpos hq serve`
//! holding three tills' synced mornings, opens the overview, a unit's page and the
//! leaderboard, and must find the figures the JSON API gives. An anonymous visit is refused.
//!
//! `FAIRPOS_SCREENSHOTS=DIR` keeps a screenshot of every page in DIR (the README's come from
//! here).

mod common;

use common::api::Api;
use common::browser::walk;
use common::hq::{Hq, PASSWORD};
use common::morning::{t01_morning, t02_morning, three_tills_synced};
use common::Till;
use serde_json::Value;

const UNIT: &str = "114300000061841387";

/// `(key, net_fen, points)` of a leaderboard table, from the page or the API.
fn standings(rows: &Value) -> Vec<(String, i64, String)> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                r["net_fen"].as_i64().unwrap(),
                r["points"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn an_organizer_finds_the_api_figures_on_the_dashboard_and_strangers_find_nothing_on_sqlite() {
    an_organizer_finds_the_api_figures_on_the_dashboard_and_strangers_find_nothing(Hq::demo());
}

#[test]
fn an_organizer_finds_the_api_figures_on_the_dashboard_and_strangers_find_nothing_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("dash_api") {
        an_organizer_finds_the_api_figures_on_the_dashboard_and_strangers_find_nothing(hq);
    }
}

fn an_organizer_finds_the_api_figures_on_the_dashboard_and_strangers_find_nothing(hq: Hq) {
    let server = hq.serve();
    three_tills_synced(&hq, &server.url);

    let api = Api::new(&server.url);
    let (token, _) = api.login();
    let token = Some(token.as_str());
    let (_, rec) = api.get("/api/v1/reconciliation", token);
    let (_, by_stall) = api.get("/api/v1/report?by=stall", token);
    let (_, unit) = api.get(&format!("/api/v1/units/{UNIT}"), token);
    let (_, board) = api.get("/api/v1/leaderboard", token);

    let seen = walk("dashboard.mjs", &[&server.url, PASSWORD, UNIT], true);

    // Strangers: the page says to log in, with 401; a wrong password is 401 too.
    assert_eq!(seen["anonymous_status"], 401);
    assert!(seen["anonymous_text"].as_str().unwrap().contains("请登录"));
    assert_eq!(seen["wrong_password_status"], 401);
    assert_eq!(seen["login_status"], 200);
    assert_eq!(seen["after_login_url"], format!("{}/", server.url));
    // Both are in the audit log, as logins through the form (no name given: the first
    // organizer), from this machine, and so is the walk's logout at its end.
    let logged = hq.json(&["hq", "audit", "--json"]);
    let form_logins: Vec<(&str, &str, &str)> = logged
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"].as_str().unwrap().starts_with("dashboard"))
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap();
            (field("action"), field("actor"), field("address"))
        })
        .collect();
    assert_eq!(
        form_logins,
        [
            ("login refused", "organizer", "127.0.0.1"),
            ("login", "organizer", "127.0.0.1"),
            ("logout", "organizer", "127.0.0.1")
        ]
    );

    // Overview: the fair's net, in fen and in the yuan shown, and each till's completeness.
    let overview = &seen["overview"];
    assert_eq!(overview["net_fen"], by_stall["net_fen"]);
    // T03's second day only: 1130.70 + 2969.90 + 72 + 32.80.
    assert_eq!(overview["net_fen"], 420540);
    assert_eq!(overview["net_text"], "￥4205.40");
    assert!(overview["title"]
        .as_str()
        .unwrap()
        .contains("湖南高校消费帮扶产品展销会"));
    let api_tills: Vec<(String, i64, i64, bool)> = rec["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["device"].as_str().unwrap().to_string(),
                d["sales_held"].as_i64().unwrap(),
                d["net_fen"].as_i64().unwrap(),
                d["complete"].as_bool().unwrap(),
            )
        })
        .collect();
    let page_tills: Vec<(String, i64, i64, bool)> = overview["tills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["device"].as_str().unwrap().to_string(),
                d["held"].as_i64().unwrap(),
                d["net_fen"].as_i64().unwrap(),
                d["complete"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(page_tills, api_tills);
    assert_eq!(
        page_tills,
        [
            ("T01".to_string(), 5, 113070, true),
            ("T02".to_string(), 4, 296990, true),
            ("T03".to_string(), 2, 10480, false)
        ]
    );
    let t03 = &overview["tills"][2];
    assert_eq!(t03["missing"], "T03-000001, T03-000002");
    let sales_held: i64 = api_tills.iter().map(|t| t.1).sum();
    assert_eq!(overview["sales"], sales_held);

    // The unit's itemised list: the API's items, row for row, and its total.
    let page_unit = &seen["unit"];
    assert!(page_unit["heading"]
        .as_str()
        .unwrap()
        .contains("湖南省商务厅"));
    assert_eq!(page_unit["total_fen"], unit["total_fen"]);
    assert_eq!(page_unit["total_text"], "￥236.00");
    let api_rows: Vec<Vec<String>> = unit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            [
                "date",
                "sale",
                "stall",
                "item",
                "unit_price_fen",
                "quantity",
                "unit",
                "amount_fen",
            ]
            .iter()
            .map(|k| match &i[k] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
        })
        .collect();
    let page_rows: Vec<Vec<String>> = serde_json::from_value(page_unit["rows"].clone()).unwrap();
    assert_eq!(page_rows, api_rows);

    // The leaderboard: the API's standings, points as shown.
    let leaderboard = &seen["leaderboard"];
    assert_eq!(standings(&leaderboard["teams"]), standings(&board["teams"]));
    assert_eq!(
        standings(&leaderboard["sellers"]),
        standings(&board["sellers"])
    );
    for row in leaderboard["teams"]
        .as_array()
        .unwrap()
        .iter()
        .chain(leaderboard["sellers"].as_array().unwrap())
    {
        assert_eq!(row["points_text"], row["points"]);
    }
    assert_eq!(board["teams"][0]["key"], "湘韵队");

    // Every other page answers an organizer; after logging out, nothing does.
    for (path, status) in seen["pages"].as_object().unwrap() {
        assert_eq!(status, 200, "{path}");
    }
    assert_eq!(seen["after_logout_status"], 401);
    drop(server);
}

#[test]
fn each_role_reaches_its_own_pages_and_routes_and_nothing_else_on_sqlite() {
    each_role_reaches_its_own_pages_and_routes_and_nothing_else(Hq::demo());
}

#[test]
fn each_role_reaches_its_own_pages_and_routes_and_nothing_else_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("dash_roles") {
        each_role_reaches_its_own_pages_and_routes_and_nothing_else(hq);
    }
}

fn each_role_reaches_its_own_pages_and_routes_and_nothing_else(hq: Hq) {
    // Step 0: two stalls sell (T01 at S01 to one unit, T02 at S02 to another) and sync.
    let server = hq.serve();
    let mut t1 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let mut t2 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    t01_morning(&mut t1);
    t02_morning(&mut t2);
    t1.synced();
    t2.synced();
    const OTHER_UNIT: &str = "81430100MB1A2C3D0T";

    // Step 1: accounts from the command line; bad ones refused as bad input (exit 2).
    let pw = "lead-pw-2026";
    let user = |args: &[&str]| {
        let mut all = vec!["hq", "user"];
        all.extend_from_slice(args);
        hq.run(&all)
    };
    let add = |name: &str, scope: &[&str]| {
        let mut args = vec!["add", name, "--password", pw];
        args.extend_from_slice(scope);
        user(&args)
    };
    assert!(add("lead", &["--role", "stall-lead", "--stall", "S02"])
        .status
        .success());
    assert!(add("buyer", &["--role", "unit", "--unit", UNIT])
        .status
        .success());
    assert!(add("org2", &["--role", "organizer"]).status.success());
    // A code typed in lower case is the unit's (units are kept in upper case).
    let lower = UNIT.to_lowercase();
    assert!(add("buyer2", &["--role", "unit", "--unit", &lower])
        .status
        .success());
    for (name, scope, why) in [
        ("x1", &["--role", "stall-lead"][..], "--stall"),
        (
            "x2",
            &["--role", "stall-lead", "--stall", "S99"],
            "no stall S99",
        ),
        (
            "x3",
            &["--role", "unit", "--unit", "000"],
            "bad credit code 000",
        ),
        (
            "x5",
            &["--role", "unit", "--unit", "91430000MA4L0ABC1G"],
            "no purchasing unit 91430000MA4L0ABC1G",
        ),
        ("x4", &["--role", "admin"], "no role"),
        ("lead", &["--role", "organizer"], "already"),
        ("a b", &["--role", "organizer"], "no spaces"),
    ] {
        let out = add(name, scope);
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {said}");
        assert!(said.contains(why), "{name}: {said}");
    }
    let listed = hq.json(&["hq", "user", "list", "--json"]);
    let roles: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("buyer", "unit"),
            ("buyer2", "unit"),
            ("lead", "stall-lead"),
            ("org2", "organizer"),
            ("organizer", "organizer")
        ]
    );

    // Step 2: the matrix: every page and API route, for no one and for each role.
    let url = &server.url;
    let api = Api::new(url);
    let tokens = [("organizer", PASSWORD), ("lead", pw), ("buyer", pw)]
        .map(|(name, password)| api.token_of(name, password).unwrap());
    let [organizer, lead, buyer] = tokens.each_ref().map(|t| Some(t.as_str()));
    assert!(api.token_of("lead", "wrong-password").is_none());
    assert!(api.token_of("nobody", pw).is_none());
    let own = format!("/units/{UNIT}");
    let other = format!("/units/{OTHER_UNIT}");
    let routes: Vec<(String, [u16; 3])> = [
        // path: organizer, stall lead, unit (no one: always 401)
        ("/stalls", [200, 200, 403]),
        ("/counties", [200, 403, 403]),
        ("/units", [200, 403, 403]),
        (own.as_str(), [200, 403, 200]),
        (&format!("{own}.csv"), [200, 403, 200]),
        (&format!("{own}.xlsx"), [200, 403, 200]),
        (other.as_str(), [200, 403, 403]),
        (&format!("{other}.csv"), [200, 403, 403]),
        ("/leaderboard", [200, 403, 403]),
        ("/anomalies", [200, 403, 403]),
        ("/anomalies/doubtful", [200, 403, 403]),
        ("/statements", [200, 403, 403]),
        ("/statements/export?format=csv", [200, 403, 403]),
        ("/audit", [200, 403, 403]),
        ("/api/v1/reconciliation", [200, 200, 403]),
        ("/api/v1/doubtful", [200, 200, 403]),
        ("/api/v1/report?by=stall", [200, 403, 403]),
        ("/api/v1/leaderboard", [200, 403, 403]),
        (&format!("/api/v1{own}"), [200, 403, 200]),
        (&format!("/api/v1{other}"), [200, 403, 403]),
        ("/api/v1/docs", [200, 403, 403]),
        ("/api/v1/sync/confirm", [200, 403, 403]),
    ]
    .into_iter()
    .map(|(p, s)| (p.to_string(), s))
    .collect();
    for (path, expected) in &routes {
        let seen = [organizer, lead, buyer].map(|who| api.fetch(path, who, false).0);
        assert_eq!(&seen, expected, "{path}: organizer, stall lead, unit");
        assert_eq!(api.fetch(path, None, false).0, 401, "{path} for no one");
    }
    // A unit the fair lacks: a page saying so, with the way back to the units; to the API,
    // a 404 too.
    let (status, _, page) = api.fetch("/units/91110000000000000X", organizer, false);
    assert_eq!(status, 404, "{page}");
    assert!(
        page.contains("No such unit") && page.contains("href=\"/units\""),
        "{page}"
    );
    let lacking = api.get("/api/v1/units/91110000000000000X", organizer).0;
    assert_eq!(lacking, 404);
    // The overview sends each role to its first page.
    assert_eq!(api.fetch("/", organizer, false).0, 200);
    assert_eq!(api.fetch("/", lead, false).1, "/stalls");
    assert_eq!(api.fetch("/", buyer, false).1, own);
    // The sync socket takes devices and organizers only.
    assert_eq!(api.fetch("/sync", organizer, true).0, 101);
    assert_eq!(api.fetch("/sync", lead, true).0, 403);
    assert_eq!(api.fetch("/sync", buyer, true).0, 403);

    // Step 3: what a stall lead sees is its stall's: T02 alone, S02's row alone.
    let (_, _, rec) = api.fetch("/api/v1/reconciliation", lead, false);
    let rec: Value = serde_json::from_str(&rec).unwrap();
    let tills: Vec<&str> = rec["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device"].as_str().unwrap())
        .collect();
    assert_eq!(tills, ["T02"]);
    let (_, _, page) = api.fetch("/stalls", lead, false);
    assert!(page.contains("data-key=\"S02\"") && !page.contains("data-key=\"S01\""));
    assert!(
        !page.contains("href=\"/counties\""),
        "the menu offers only the stall page"
    );
    let (_, _, mine) = api.fetch(&format!("/api/v1{own}"), buyer, false);
    let (_, _, theirs) = api.fetch(&format!("/api/v1{own}"), organizer, false);
    assert_eq!(mine, theirs, "a unit sees its list as an organizer does");

    // Step 4: a new password ends the account's sessions; removing the last organizer is
    // refused.
    let out = user(&["passwd", "lead", "--password", "new-lead-pw-1"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("sessions ended: 1"));
    assert_eq!(api.fetch("/stalls", lead, false).0, 401);
    assert!(api.token_of("lead", "new-lead-pw-1").is_some());
    assert!(user(&["remove", "org2"]).status.success());
    let out = user(&["remove", "organizer"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("last organizer"));
}
