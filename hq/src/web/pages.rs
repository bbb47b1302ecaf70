//! The dashboard's pages: server-rendered HTML, legible in Chinese, usable without
//! JavaScript, printable.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use fairpos_projection::report::Dimension;

use super::auth::{forbidden_page, notice};
use super::{
    attachment, chart, failure, organizer_only, page, page_as, page_for, report_table, views,
};
use crate::accounts::Access;
use crate::reconcile::Reconciliation;
use crate::state::AppState;
use crate::{leaderboard, unit_items, Result};

pub(crate) async fn overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let account = page_for!(state, headers, |_: &Access| true);
    if !account.access.is_organizer() {
        return Redirect::to(&account.access.home()).into_response();
    }
    let data = async {
        let totals = state.report(Dimension::Stall).await?;
        let counted = state.counted().await?;
        let charts = [
            chart::figure(
                "按小时 Sales by hour",
                &chart::columns(
                    &chart::hours_of_last_day(&state.report(Dimension::Hour).await?),
                    "按小时 By hour",
                ),
            ),
            chart::figure(
                "支付方式 By payment method",
                &chart::rows(
                    &chart::payment_bars(&state.report(Dimension::Payment).await?),
                    "支付方式 By payment method",
                    10,
                ),
            ),
        ];
        let rec = state.reconciliation(None).await?;
        Ok::<_, crate::Error>((
            totals,
            counted.sales,
            counted.voids,
            counted.refunds,
            rec,
            charts,
        ))
    }
    .await;
    let (totals, sales, voids, refunds, rec, charts) = match data {
        Ok(d) => d,
        Err(e) => return failure(e),
    };
    let f = formats(&state);
    let body = views::Overview {
        f: &f,
        net_fen: totals.net_fen,
        sales,
        voids,
        refunds,
        charts: &charts,
        rec: &rec,
        disk_low_mib: state
            .disk
            .free()
            .filter(|_| state.disk.is_low())
            .map(|free| free >> 20),
    };
    rendered(&state, "/", "总览 Overview", &body)
}

/// Every stall for an organizer; a stall lead's own stall for a stall lead.
pub(crate) async fn stalls(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let account = page_for!(state, headers, |a: &Access| matches!(
        a,
        Access::Organizer | Access::StallLead(_)
    ));
    let data = async {
        let by_stall = state.report(Dimension::Stall).await?;
        Ok::<_, crate::Error>(match &account.access {
            Access::StallLead(stall) => (
                by_stall.only(stall),
                state.reconciliation(Some(stall.clone())).await?,
            ),
            _ => (by_stall, state.reconciliation(None).await?),
        })
    }
    .await;
    let (by_stall, rec) = match data {
        Ok(d) => d,
        Err(e) => return failure(e),
    };
    let f = formats(&state);
    let body = report_table(&f, &by_stall, "摊位 Stall").and_then(|report| {
        views::render(&views::Stalls {
            f: &f,
            report: &report,
            rec: &rec,
        })
    });
    match body {
        Ok(body) => page_as(
            &state,
            &account.access,
            "/stalls",
            "摊位与班次 Stalls & shifts",
            &body,
        ),
        Err(e) => failure(e),
    }
}

pub(crate) async fn counties(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    match state.report(Dimension::County).await {
        Ok(r) => {
            let chart = chart::rows(&chart::labelled_bars(&r), "产地县 By county", 20);
            let chart = chart::figure("产地县净额 Net by origin county", &chart);
            match report_table(&formats(&state), &r, "县代码 County code") {
                Ok(report) => rendered(
                    &state,
                    "/counties",
                    "产地县 Counties",
                    &views::Counties {
                        chart: &chart,
                        report: &report,
                    },
                ),
                Err(e) => failure(e),
            }
        }
        Err(e) => failure(e),
    }
}

pub(crate) async fn units(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    let r = match state.report(Dimension::Unit).await {
        Ok(r) => r,
        Err(e) => return failure(e),
    };
    let f = formats(&state);
    rendered(
        &state,
        "/units",
        "采购单位 Units",
        &views::Units { f: &f, r: &r },
    )
}

pub(crate) async fn unit_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let account = page_for!(state, headers, |a: &Access| matches!(
        a,
        Access::Organizer | Access::Unit(_)
    ));
    // The code typed in lower case names the unit all the same, as on the command line.
    let (tax_id, format) = match code.rsplit_once('.') {
        Some((c, f @ ("csv" | "xlsx"))) => (c.trim().to_ascii_uppercase(), f),
        _ => (code.trim().to_ascii_uppercase(), "html"),
    };
    if !account.access.may_see_unit(&tax_id) {
        return forbidden_page(&account);
    }
    let unit = tax_id.clone();
    let items = match state.unit_items(unit).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            // A unit's own account may not list the units (403): it is shown the way out.
            let back = if account.access.is_organizer() {
                ("/units", "单位 Units")
            } else {
                ("/logout", "退出 Log out")
            };
            return notice(StatusCode::NOT_FOUND, "无此单位 No such unit", back);
        }
        Err(e) => return failure(e),
    };
    let download = |bytes: Result<Vec<u8>>, mime: &str, ext: &str| {
        attachment(bytes, mime, &format!("unit-{tax_id}.{ext}"))
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
    let f = formats(&state);
    let body = match views::render(&views::Unit { f: &f, u: &items }) {
        Ok(b) => b,
        Err(e) => return failure(e),
    };
    let here = match account.access {
        Access::Organizer => "/units".to_string(),
        _ => account.access.home(),
    };
    page_as(
        &state,
        &account.access,
        &here,
        &format!("{} 采购明细 Items", items.name),
        &body,
    )
}

pub(crate) async fn leaderboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    let board = match state.leaderboard().await {
        Ok(b) => b,
        Err(e) => return failure(e),
    };
    let bars = |rows: &[leaderboard::Standing]| -> Vec<chart::Bar> {
        rows.iter()
            .map(|s| chart::Bar::new(&s.label, s.net_fen))
            .collect()
    };
    let teams_chart = chart::figure(
        "团队净销售额 Teams",
        &chart::rows(&bars(&board.teams), "团队 Teams", 10),
    );
    let sellers_chart = chart::figure(
        "销售员前十 Top sellers",
        &chart::rows(&bars(&board.sellers), "销售员 Sellers", 10),
    );
    let f = formats(&state);
    let body = views::Standings {
        f: &f,
        board: &board,
        teams_chart: &teams_chart,
        sellers_chart: &sellers_chart,
    };
    rendered(&state, "/leaderboard", "竞赛排行 Leaderboard", &body)
}

pub(crate) async fn anomalies(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    let rec: Reconciliation = match state.reconciliation(None).await {
        Ok(r) => r,
        Err(e) => return failure(e),
    };
    let f = formats(&state);
    let body = views::Anomalies {
        f: &f,
        rec: &rec,
        any_missing: rec.devices.iter().any(|d| d.missing_count > 0),
        any_refused: rec.devices.iter().any(|d| d.refused.is_some()),
    };
    rendered(&state, "/anomalies", "异常 Anomalies", &body)
}

/// `/anomalies/doubtful`: the voids and refunds that do not square with their sales, a page
/// of its own.
pub(crate) async fn doubtful(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    let doubtful = match state.doubtful(None).await {
        Ok(d) => d,
        Err(e) => return failure(e),
    };
    let body = views::DoubtfulCorrections::of(&doubtful);
    rendered(
        &state,
        "/anomalies",
        "存疑作废与退款 Doubtful voids and refunds",
        &body,
    )
}

/// The link back to the audit log, under a notice of its pages.
pub(crate) const AUDIT_BACK: (&str, &str) = ("/audit", "操作记录 Audit log");

/// The audit log's latest entries an organizer sees at `/audit`.
const AUDIT_PAGE_ENTRIES: u32 = 500;
/// The most entries `/audit?format=csv` gives (`hq audit --csv` gives them all): more are
/// refused, never cut short.
const AUDIT_CSV_ENTRIES: u32 = 100_000;

/// `/audit`: the latest entries the form's fields let through (`since` and `until` days at
/// the fair, `action`, `actor`), newest first.
pub(crate) async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(asked): Query<HashMap<String, String>>,
) -> Response {
    organizer_only!(state, headers);
    // An empty field asks nothing.
    let field = |name: &str| asked.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let day = |name: &str| match field(name) {
        None => Ok(None),
        Some(text) => text
            .parse::<chrono::NaiveDate>()
            .map(Some)
            .map_err(|_| format!("{name}: {text:?} is not a day (YYYY-MM-DD) 不是日期")),
    };
    let (since, until) = match (day("since"), day("until")) {
        (Ok(since), Ok(until)) => (since, until),
        (Err(why), _) | (_, Err(why)) => return notice(StatusCode::BAD_REQUEST, &why, AUDIT_BACK),
    };
    let (action, actor) = (
        field("action").map(str::to_string),
        field("actor").map(str::to_string),
    );
    let filter = match crate::audit::filter(since, until, state.fair.utc_offset, action, actor) {
        Ok(filter) => filter,
        Err(e) => {
            return notice(
                StatusCode::BAD_REQUEST,
                &e.to_string(),
                ("/audit", "操作记录 Audit log"),
            )
        }
    };
    let csv = match field("format") {
        None => false,
        Some("csv") => true,
        Some(other) => {
            let why = format!("format: {other:?}; csv, or none for the page");
            return notice(StatusCode::BAD_REQUEST, &why, AUDIT_BACK);
        }
    };
    // One more than a download gives, to tell one that would be cut.
    let latest = if csv {
        AUDIT_CSV_ENTRIES + 1
    } else {
        AUDIT_PAGE_ENTRIES
    };
    let entries: Vec<_> = match state.audit_entries(&filter, latest).await {
        Ok(e) => e.iter().map(crate::audit::Entry::shown).collect(),
        Err(e) => return failure(e),
    };
    if csv && entries.len() > AUDIT_CSV_ENTRIES as usize {
        let why = format!(
            "more than {AUDIT_CSV_ENTRIES} entries match: fewer days (since, until) give a \
             file whole, or `hq audit --csv` on the server gives them all \
             超过 {AUDIT_CSV_ENTRIES} 条，请缩小日期范围"
        );
        return notice(StatusCode::BAD_REQUEST, &why, AUDIT_BACK);
    }
    if csv {
        let bytes = crate::audit::export::csv(&entries);
        return attachment(bytes, "text/csv; charset=utf-8", "audit.csv");
    }
    let f = formats(&state);
    let text = |name: &str| field(name).unwrap_or_default().to_string();
    // The same fields, for the download's link.
    let mut csv_query = url::form_urlencoded::Serializer::new(String::new());
    for name in ["since", "until", "action", "actor"] {
        if let Some(value) = field(name) {
            csv_query.append_pair(name, value);
        }
    }
    csv_query.append_pair("format", "csv");
    let body = views::AuditLog {
        f: &f,
        entries: &entries,
        since: text("since"),
        until: text("until"),
        action: text("action"),
        actor: text("actor"),
        filtered: filter != Default::default(),
        csv_href: format!("/audit?{}", csv_query.finish()),
    };
    rendered(&state, "/audit", "操作记录 Audit log", &body)
}

/// The fair's formats for a page's template.
fn formats(state: &AppState) -> views::Formats {
    views::Formats {
        offset: state.fair.utc_offset,
    }
}

/// An organizer's page whose body is `body` rendered.
fn rendered(state: &AppState, here: &str, title: &str, body: &impl askama::Template) -> Response {
    match views::render(body) {
        Ok(html) => page(state, here, title, &html),
        Err(e) => failure(e),
    }
}
