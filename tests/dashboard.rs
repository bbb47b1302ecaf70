//! The organizers' dashboard in a real browser: headless Chromium (Debian's `chromium`, driven
//! by `interop/dashboard.mjs` through playwright-core) logs in to a real `fairpos hq serve`
//! holding three tills' synced mornings, opens the overview, a unit's page and the
//! leaderboard, and must find the figures the JSON API gives. An anonymous visit is refused.
//!
//! `FAIRPOS_SCREENSHOTS=DIR` keeps a screenshot of every page in DIR (the README's come from
//! here).

mod common;

use common::browser::walk;
use common::hq::{Api, Hq, PASSWORD};
use common::morning::{bundle_without_first_day, t01_morning, t02_morning, t03_two_days};
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
fn an_organizer_finds_the_api_figures_on_the_dashboard_and_strangers_find_nothing() {
    let hq = Hq::demo();
    let server = hq.serve();
    let mut t1 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let mut t2 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    let mut t3 = Till::enrolled(&server.url, &hq.add_device("T03", "S03"));
    t01_morning(&mut t1);
    t02_morning(&mut t2);
    t03_two_days(&mut t3);
    t1.synced();
    t2.synced();
    let stick = bundle_without_first_day(&t3);
    hq.ok(&["hq", "bundle", "import", stick.to_str().unwrap()]);

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
