//! The organizers' dashboard and its JSON API, served by `fairpos hq serve`.
//!
//! Server-rendered HTML, legible in Chinese, usable without JavaScript, printable. Every page
//! and API route answers only an organizer: the login form sets an HttpOnly session cookie
//! (the API also takes `Authorization: Bearer <token>` from `POST /api/v1/login`); anonymous
//! callers get 401.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use rusqlite::Connection;
use serde::Deserialize;

use super::devices::{self, Peer};
use super::reconcile::{self, Reconciliation};
use super::server::AppState;
use super::{leaderboard, unit_items};
use crate::domain::Fen;
use crate::error::{Error, Result};
use crate::report::{self, Dimension};

const COOKIE: &str = "fairpos_session";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/login", get(login_form).post(login))
        .route("/logout", get(logout))
        .route("/stalls", get(stalls))
        .route("/counties", get(counties))
        .route("/units", get(units))
        .route("/units/{code}", get(unit_page))
        .route("/leaderboard", get(leaderboard))
        .route("/anomalies", get(anomalies))
        .route("/api/v1/reconciliation", get(api_reconciliation))
        .route("/api/v1/report", get(api_report))
        .route("/api/v1/leaderboard", get(api_leaderboard))
        .route("/api/v1/units/{code}", get(api_unit))
}

/// HTML-escapes text.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A moment as the fair's clock shows it: `2026-11-22 10:15`.
fn local(state: &AppState, text: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) => t
            .with_timezone(&state.fair.utc_offset)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => text.to_string(),
    }
}

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}￥{}", Fen(fen.abs()))
}

/// A money cell: shown in yuan, carrying the fen for machines (tests, scripts).
fn money(fen: i64) -> String {
    format!("<td class=\"num\" data-fen=\"{fen}\">{}</td>", yuan(fen))
}

const STYLE: &str = "
body { font-family: 'Noto Sans CJK SC', 'Noto Sans SC', 'WenQuanYi Micro Hei', sans-serif;
       margin: 0; color: #1b1b1b; background: #fafafa; }
header { background: #8a1c1c; color: #fff; padding: 0.6em 1.2em; }
header h1 { font-size: 1.2em; margin: 0; }
nav { background: #fff; border-bottom: 1px solid #ddd; padding: 0.4em 1.2em; }
nav a { margin-right: 1.2em; color: #8a1c1c; text-decoration: none; }
nav a.here { font-weight: bold; text-decoration: underline; }
main { padding: 1em 1.2em; }
table { border-collapse: collapse; margin: 0.6em 0 1.4em; background: #fff; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
th { background: #f0e6e6; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.bad { color: #b00020; font-weight: bold; }
.ok { color: #1b6e20; }
.totals span { display: inline-block; margin-right: 2em; font-size: 1.2em; }
@media print { nav, .noprint { display: none; } header { background: none; color: #000; }
               body { background: #fff; } }
";

const PAGES: [(&str, &str); 6] = [
    ("/", "总览 Overview"),
    ("/stalls", "摊位与班次 Stalls & shifts"),
    ("/counties", "产地县 Counties"),
    ("/units", "采购单位 Units"),
    ("/leaderboard", "竞赛排行 Leaderboard"),
    ("/anomalies", "异常 Anomalies"),
];

fn page(state: &AppState, here: &str, title: &str, body: &str) -> Response {
    let mut nav = String::new();
    for (href, label) in PAGES {
        let class = if href == here { " class=\"here\"" } else { "" };
        let _ = write!(nav, "<a href=\"{href}\"{class}>{label}</a>");
    }
    nav.push_str("<a href=\"/logout\" class=\"noprint\">退出 Log out</a>");
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} · {}</title><style>{STYLE}</style></head><body>\
         <header><h1>{}</h1></header><nav>{nav}</nav><main><h2>{}</h2>{body}</main></body></html>",
        esc(title),
        esc(&state.fair.name),
        esc(&state.fair.name),
        esc(title)
    ))
    .into_response()
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The organizer behind a request, by cookie or bearer token.
fn organizer(state: &AppState, headers: &HeaderMap) -> bool {
    let token = cookie_token(headers).or_else(|| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
    });
    let Some(token) = token else { return false };
    let Ok(db) = state.db.lock() else {
        return false;
    };
    matches!(devices::authenticate(&db, &token), Ok(Peer::Organizer(_)))
}

fn unauthorized_page() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Html(format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>登录 Log in</title>\
             <style>{STYLE}</style></head><body><main><h2>请登录 Please log in</h2>\
             <p><a href=\"/login\">组织者登录 Organizer login</a></p></main></body></html>"
        )),
    )
        .into_response()
}

fn unauthorized_json() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({ "error": "organizers only: log in first" })),
    )
        .into_response()
}

fn failure(e: Error) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
}

/// Runs `f` on the database for an organizer's page.
fn with_db<T>(state: &AppState, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    let db = state
        .db
        .lock()
        .map_err(|_| Error::Other("the database lock is poisoned".into()))?;
    f(&db)
}

async fn login_form(State(state): State<AppState>) -> Response {
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>登录 Log in</title>\
         <style>{STYLE}</style></head><body><header><h1>{}</h1></header><main>\
         <h2>组织者登录 Organizer login</h2>\
         <form method=\"post\" action=\"/login\"><label>密码 Password \
         <input type=\"password\" name=\"password\" autofocus></label> \
         <button type=\"submit\">登录 Log in</button></form></main></body></html>",
        esc(&state.fair.name)
    ))
    .into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    password: String,
}

async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let result = {
        let Ok(db) = state.db.lock() else {
            return failure(Error::Other("database".into()));
        };
        devices::login(&db, &form.password)
    };
    match result {
        Ok((token, _)) => (
            [(
                header::SET_COOKIE,
                format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"),
            )],
            Redirect::to("/"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::UNAUTHORIZED,
            Html(format!(
                "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>登录 Log in</title>\
                 <style>{STYLE}</style></head><body><main><p class=\"bad\">密码错误 Wrong password</p>\
                 <p><a href=\"/login\">再试 Try again</a></p></main></body></html>"
            )),
        )
            .into_response(),
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie_token(&headers) {
        if let Ok(db) = state.db.lock() {
            let _ = devices::logout(&db, &token);
        }
    }
    (
        [(header::SET_COOKIE, format!("{COOKIE}=; Max-Age=0; Path=/"))],
        Redirect::to("/login"),
    )
        .into_response()
}

macro_rules! organizer_only {
    ($state:expr, $headers:expr) => {
        if !organizer(&$state, &$headers) {
            return unauthorized_page();
        }
    };
}

macro_rules! organizer_api {
    ($state:expr, $headers:expr) => {
        if !organizer(&$state, &$headers) {
            return unauthorized_json();
        }
    };
}

fn report_table(r: &report::Report, key_label: &str) -> String {
    let mut t = format!(
        "<table data-report=\"{}\"><tr><th>{}</th><th>名称 Name</th><th class=\"num\">笔数 Sales</th>\
         <th class=\"num\">销售 Sold</th><th class=\"num\">退款 Refunds</th><th class=\"num\">净额 Net</th></tr>",
        r.by.as_str(),
        esc(key_label)
    );
    for row in &r.rows {
        let _ = write!(
            t,
            "<tr data-key=\"{}\"><td>{}</td><td>{}</td><td class=\"num\">{}</td>{}{}{}</tr>",
            esc(&row.key),
            esc(&row.key),
            esc(&row.label),
            row.count,
            money(row.sales_fen),
            money(row.refunds_fen),
            money(row.net_fen)
        );
    }
    let _ = write!(
        t,
        "<tr class=\"total\"><th colspan=\"3\">合计 Total</th>{}{}{}</tr></table>",
        money(r.sales_fen),
        money(r.refunds_fen),
        money(r.net_fen)
    );
    t
}

async fn overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    let data = with_db(&state, |db| {
        let totals = report::build(db, Dimension::Stall)?;
        let (sales, voids, refunds): (i64, i64, i64) = db.query_row(
            "SELECT (SELECT COUNT(*) FROM sales), (SELECT COUNT(*) FROM voids),
                    (SELECT COUNT(*) FROM refunds)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok((totals, sales, voids, refunds, reconcile::reconcile(db)?))
    });
    let (totals, sales, voids, refunds, rec) = match data {
        Ok(d) => d,
        Err(e) => return failure(e),
    };
    let mut body = format!(
        "<p class=\"totals\"><span>净销售额 Net <b id=\"net\" data-fen=\"{}\">{}</b></span>\
         <span>销售笔数 Sales <b id=\"sales\">{sales}</b></span>\
         <span>作废 Voids <b>{voids}</b></span><span>退款 Refunds <b>{refunds}</b></span></p>",
        totals.net_fen,
        yuan(totals.net_fen)
    );
    body.push_str(
        "<h3>收银机 Tills</h3><table id=\"tills\"><tr><th>收银机 Till</th><th>摊位 Stall</th>\
         <th>最近同步 Last seen</th><th class=\"num\">已收销售 Sales held</th><th class=\"num\">净额 Net</th>\
         <th>班结声明 Stated last</th><th>完整 Complete</th><th>缺失 Missing</th></tr>",
    );
    for d in &rec.devices {
        let complete = if d.complete {
            "<td class=\"ok\">✓ 完整</td>".to_string()
        } else {
            "<td class=\"bad\">✗ 不完整</td>".to_string()
        };
        let _ = write!(
            body,
            "<tr data-device=\"{}\"><td>{}</td><td>{} {}</td><td>{}</td><td class=\"num\">{}</td>{}<td>{}</td>{complete}<td>{}</td></tr>",
            esc(&d.device),
            esc(&d.device),
            esc(&d.stall),
            esc(&d.stall_name),
            esc(&d
                .last_seen
                .as_deref()
                .map_or_else(|| "从未 never".to_string(), |t| local(&state, t))),
            d.sales_held,
            money(d.net_fen),
            esc(d.stated_last_sale.as_deref().unwrap_or("—")),
            esc(&d.missing.join(", "))
        );
    }
    body.push_str("</table>");
    page(&state, "/", "总览 Overview", &body)
}

async fn stalls(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    let data = with_db(&state, |db| {
        Ok((
            report::build(db, Dimension::Stall)?,
            reconcile::reconcile(db)?,
        ))
    });
    let (by_stall, rec) = match data {
        Ok(d) => d,
        Err(e) => return failure(e),
    };
    let mut body = report_table(&by_stall, "摊位 Stall");
    body.push_str("<h3>班次现金核对 Shift cash-up</h3>");
    body.push_str(
        "<table id=\"shifts\"><tr><th>收银机 Till</th><th>收银员 Seller</th><th>开班 Opened</th><th>结班 Closed</th>\
         <th class=\"num\">备用金 Float</th><th class=\"num\">现金销售 Cash sales</th>\
         <th class=\"num\">作废退回 Voided</th><th class=\"num\">现金退款 Cash refunds</th>\
         <th class=\"num\">存取 Moves</th><th class=\"num\">应有 Expected</th><th class=\"num\">实点 Counted</th>\
         <th class=\"num\">差额 Variance</th></tr>",
    );
    for d in &rec.devices {
        for s in &d.shifts {
            let counted = s
                .counted_fen
                .map(money)
                .unwrap_or_else(|| "<td>—</td>".into());
            let variance = match s.variance_fen {
                Some(v) if v != 0 => {
                    format!("<td class=\"num bad\" data-fen=\"{v}\">{}</td>", yuan(v))
                }
                Some(v) => money(v),
                None => "<td>—</td>".into(),
            };
            let _ = write!(
                body,
                "<tr data-shift=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}{}{}{}{}{}{counted}{variance}</tr>",
                esc(&s.shift),
                esc(&d.device),
                esc(&s.seller),
                esc(&local(&state, &s.opened_at)),
                esc(&s
                    .closed_at
                    .as_deref()
                    .map_or_else(|| "未结 open".to_string(), |t| local(&state, t))),
                money(s.float_fen),
                money(s.cash_sales_fen),
                money(s.cash_voided_fen),
                money(s.cash_refunds_fen),
                money(s.cash_moves_fen),
                money(s.expected_fen)
            );
        }
    }
    body.push_str("</table>");
    page(&state, "/stalls", "摊位与班次 Stalls & shifts", &body)
}

async fn counties(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    match with_db(&state, |db| report::build(db, Dimension::County)) {
        Ok(r) => page(
            &state,
            "/counties",
            "产地县 Counties",
            &report_table(&r, "县代码 County code"),
        ),
        Err(e) => failure(e),
    }
}

async fn units(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    let r = match with_db(&state, |db| report::build(db, Dimension::Unit)) {
        Ok(r) => r,
        Err(e) => return failure(e),
    };
    let mut body = String::from(
        "<p>单位采购与个人购买分开统计。Unit purchases are kept apart from individuals'.</p>\
         <table id=\"units\"><tr><th>信用代码 Credit code</th><th>单位 Unit</th><th class=\"num\">笔数 Sales</th>\
         <th class=\"num\">净额 Net</th><th class=\"noprint\">明细 Items</th></tr>",
    );
    for row in r.rows.iter().filter(|r| r.key != "individual") {
        let _ = write!(
            body,
            "<tr data-key=\"{}\"><td>{}</td><td>{}</td><td class=\"num\">{}</td>{}\
             <td class=\"noprint\"><a href=\"/units/{}\">明细 items</a></td></tr>",
            esc(&row.key),
            esc(&row.key),
            esc(&row.label),
            row.count,
            money(row.net_fen),
            esc(&row.key)
        );
    }
    body.push_str("</table>");
    if let Some(ind) = r.rows.iter().find(|r| r.key == "individual") {
        let _ = write!(
            body,
            "<p>个人 Individuals: <b data-fen=\"{}\">{}</b> ({} 笔)</p>",
            ind.net_fen,
            yuan(ind.net_fen),
            ind.count
        );
    }
    page(&state, "/units", "采购单位 Units", &body)
}

async fn unit_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    organizer_only!(state, headers);
    let (tax_id, format) = match code.rsplit_once('.') {
        Some((c, f @ ("csv" | "xlsx"))) => (c.to_string(), f),
        _ => (code.clone(), "html"),
    };
    let items = match with_db(&state, |db| unit_items::of(db, &tax_id)) {
        Ok(Some(u)) => u,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such unit").into_response(),
        Err(e) => return failure(e),
    };
    let download = |bytes: Result<Vec<u8>>, mime: &str, ext: &str| match bytes {
        Ok(b) => (
            [
                (header::CONTENT_TYPE, mime.to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"unit-{tax_id}.{ext}\""),
                ),
            ],
            b,
        )
            .into_response(),
        Err(e) => failure(e),
    };
    match format {
        "csv" => return download(unit_items::csv(&items), "text/csv; charset=utf-8", "csv"),
        "xlsx" => {
            return download(
                unit_items::xlsx(&items),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "xlsx",
            )
        }
        _ => {}
    }
    let mut body = format!(
        "<p>{} · 统一社会信用代码 {}</p>\
         <p class=\"noprint\"><a href=\"/units/{}.csv\">CSV</a> · <a href=\"/units/{}.xlsx\">XLSX</a></p>\
         <table id=\"items\"><tr><th>日期 Date</th><th>单号 Sale</th><th>摊位 Stall</th><th>商品 Item</th>\
         <th class=\"num\">单价 Unit price</th><th class=\"num\">数量 Qty</th><th>单位 Unit</th><th class=\"num\">金额 Amount</th></tr>",
        esc(&items.name),
        esc(&items.tax_id),
        esc(&items.tax_id),
        esc(&items.tax_id)
    );
    for i in &items.items {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}<td class=\"num\">{}</td><td>{}</td>{}</tr>",
            esc(&i.date),
            esc(&i.sale),
            esc(&i.stall),
            esc(&i.item),
            money(i.unit_price_fen),
            esc(&i.quantity),
            esc(&i.unit),
            money(i.amount_fen)
        );
    }
    let _ = write!(
        body,
        "<tr><th colspan=\"7\">合计 Total</th><td class=\"num\" id=\"unit-total\" data-fen=\"{}\">{}</td></tr></table>",
        items.total_fen,
        yuan(items.total_fen)
    );
    page(
        &state,
        "/units",
        &format!("{} 采购明细 Items", items.name),
        &body,
    )
}

async fn leaderboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    let board = match with_db(&state, |db| leaderboard::of(db, &state.fair)) {
        Ok(b) => b,
        Err(e) => return failure(e),
    };
    let table = |id: &str, rows: &[leaderboard::Standing], with_team: bool| {
        let mut t = format!(
            "<table id=\"{id}\"><tr><th>名次 Rank</th><th>名称 Name</th>{}<th class=\"num\">净销售额 Net</th><th class=\"num\">积分 Points</th></tr>",
            if with_team { "<th>队 Team</th>" } else { "" }
        );
        for (i, s) in rows.iter().enumerate() {
            let team = if with_team {
                format!("<td>{}</td>", esc(&s.team))
            } else {
                String::new()
            };
            let _ = write!(
                t,
                "<tr data-key=\"{}\"><td>{}</td><td>{}</td>{team}{}<td class=\"num\" data-points=\"{}\">{}</td></tr>",
                esc(&s.key),
                i + 1,
                esc(&s.label),
                money(s.net_fen),
                esc(&s.points),
                esc(&s.points)
            );
        }
        t.push_str("</table>");
        t
    };
    let body = format!(
        "<h3>团队 Teams</h3>{}<h3>销售员 Sellers</h3>{}",
        table("teams", &board.teams, false),
        table("sellers", &board.sellers, true)
    );
    page(&state, "/leaderboard", "竞赛排行 Leaderboard", &body)
}

async fn anomalies(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    let rec: Reconciliation = match with_db(&state, reconcile::reconcile) {
        Ok(r) => r,
        Err(e) => return failure(e),
    };
    let mut body = String::from("<h3>缺失销售 Missing sales</h3><ul id=\"gaps\">");
    let mut any = false;
    for d in rec.devices.iter().filter(|d| d.missing_count > 0) {
        any = true;
        let _ = write!(
            body,
            "<li class=\"bad\" data-device=\"{}\">{}: {} ({} 笔 missing)</li>",
            esc(&d.device),
            esc(&d.device),
            esc(&d.missing.join(", ")),
            d.missing_count
        );
    }
    if !any {
        body.push_str("<li class=\"ok\">无 none</li>");
    }
    body.push_str("</ul><h3>超卖 Oversold</h3><ul id=\"oversold\">");
    for o in &rec.oversold {
        let _ = write!(
            body,
            "<li>{} {} {}</li>",
            esc(&o.sale),
            esc(&o.sku),
            esc(&o.name)
        );
    }
    if rec.oversold.is_empty() {
        body.push_str("<li class=\"ok\">无 none</li>");
    }
    body.push_str(
        "</ul><h3>作废与退款 Voids and refunds by seller</h3><table id=\"corrections\"><tr><th>销售员 Seller</th>\
         <th>队 Team</th><th class=\"num\">作废 Voids</th><th class=\"num\">作废金额 Voided</th>\
         <th class=\"num\">退款 Refunds</th><th class=\"num\">退款金额 Refunded</th></tr>",
    );
    for s in &rec.sellers {
        let _ = write!(
            body,
            "<tr data-key=\"{}\"><td>{} {}</td><td>{}</td><td class=\"num\">{}</td>{}<td class=\"num\">{}</td>{}</tr>",
            esc(&s.seller),
            esc(&s.seller),
            esc(&s.name),
            esc(&s.team),
            s.voids,
            money(s.voided_fen),
            s.refunds,
            money(s.refunded_fen)
        );
    }
    body.push_str("</table><h3>现金差额 Cash variances</h3><ul id=\"variances\">");
    for d in &rec.devices {
        for s in d
            .shifts
            .iter()
            .filter(|s| s.variance_fen.is_some_and(|v| v != 0))
        {
            let v = s.variance_fen.unwrap_or(0);
            let _ = write!(
                body,
                "<li class=\"bad\" data-fen=\"{v}\">{} {} {}: {}</li>",
                esc(&d.device),
                esc(&s.seller),
                esc(&s
                    .closed_at
                    .as_deref()
                    .map(|t| local(&state, t))
                    .unwrap_or_default()),
                yuan(v)
            );
        }
    }
    body.push_str("</ul>");
    page(&state, "/anomalies", "异常 Anomalies", &body)
}

async fn api_reconciliation(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_api!(state, headers);
    match with_db(&state, reconcile::reconcile) {
        Ok(r) => Json(r).into_response(),
        Err(e) => failure(e),
    }
}

async fn api_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    organizer_api!(state, headers);
    let by = q.get("by").map(String::as_str).unwrap_or("stall");
    let by: Dimension = match by.parse() {
        Ok(d) => d,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": e.to_string()})),
            )
                .into_response()
        }
    };
    match with_db(&state, |db| report::build(db, by)) {
        Ok(r) => Json(r).into_response(),
        Err(e) => failure(e),
    }
}

async fn api_leaderboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_api!(state, headers);
    match with_db(&state, |db| leaderboard::of(db, &state.fair)) {
        Ok(b) => Json(b).into_response(),
        Err(e) => failure(e),
    }
}

async fn api_unit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    organizer_api!(state, headers);
    match with_db(&state, |db| unit_items::of(db, &code)) {
        Ok(Some(u)) => Json(u).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "no such unit"})),
        )
            .into_response(),
        Err(e) => failure(e),
    }
}
