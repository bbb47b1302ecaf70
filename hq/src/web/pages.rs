//! The dashboard's pages: server-rendered HTML, legible in Chinese, usable without
//! JavaScript, printable.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use fairpos_projection::report::{self, Dimension};

use super::auth::forbidden_page;
use super::{
    chart, chart_figure, esc, failure, local, money, organizer_only, page, page_as, page_for,
    report_table, with_db, yuan,
};
use crate::accounts::Access;
use crate::reconcile::{self, Reconciliation};
use crate::state::AppState;
use crate::{leaderboard, unit_items, Result};

pub(crate) async fn overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let account = page_for!(state, headers, |_: &Access| true);
    if !account.access.is_organizer() {
        return Redirect::to(&account.access.home()).into_response();
    }
    let data = with_db(&state, |db| {
        let totals = report::build(db, Dimension::Stall)?;
        let (sales, voids, refunds): (i64, i64, i64) = db.query_row(
            "SELECT (SELECT COUNT(*) FROM sales), (SELECT COUNT(*) FROM voids),
                    (SELECT COUNT(*) FROM refunds)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let charts = [
            chart_figure(
                "按小时 Sales by hour",
                &chart::columns(
                    &chart::hours_of_last_day(&report::build(db, Dimension::Hour)?),
                    "按小时 By hour",
                ),
            ),
            chart_figure(
                "支付方式 By payment method",
                &chart::rows(
                    &chart::payment_bars(&report::build(db, Dimension::Payment)?),
                    "支付方式 By payment method",
                    10,
                ),
            ),
        ];
        let rec = reconcile::reconcile(db)?;
        Ok((totals, sales, voids, refunds, rec, charts))
    });
    let (totals, sales, voids, refunds, rec, charts) = match data {
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
    let _ = write!(body, "<div class=\"charts\">{}</div>", charts.concat());
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

/// Every stall for an organizer; a stall lead's own stall for a stall lead.
pub(crate) async fn stalls(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let account = page_for!(state, headers, |a: &Access| matches!(
        a,
        Access::Organizer | Access::StallLead(_)
    ));
    let data = with_db(&state, |db| {
        let by_stall = report::build(db, Dimension::Stall)?;
        Ok(match &account.access {
            Access::StallLead(stall) => (by_stall.only(stall), reconcile::of_stall(db, stall)?),
            _ => (by_stall, reconcile::reconcile(db)?),
        })
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
    page_as(
        &state,
        &account.access,
        "/stalls",
        "摊位与班次 Stalls & shifts",
        &body,
    )
}

pub(crate) async fn counties(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    match with_db(&state, |db| Ok(report::build(db, Dimension::County)?)) {
        Ok(r) => {
            let chart = chart::rows(&chart::labelled_bars(&r), "产地县 By county", 20);
            let body = format!(
                "<div class=\"charts\">{}</div>{}",
                chart_figure("产地县净额 Net by origin county", &chart),
                report_table(&r, "县代码 County code")
            );
            page(&state, "/counties", "产地县 Counties", &body)
        }
        Err(e) => failure(e),
    }
}

pub(crate) async fn units(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    let r = match with_db(&state, |db| Ok(report::build(db, Dimension::Unit)?)) {
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

pub(crate) async fn unit_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let account = page_for!(state, headers, |a: &Access| matches!(
        a,
        Access::Organizer | Access::Unit(_)
    ));
    let (tax_id, format) = match code.rsplit_once('.') {
        Some((c, f @ ("csv" | "xlsx"))) => (c.to_string(), f),
        _ => (code.clone(), "html"),
    };
    if !account.access.may_see_unit(&tax_id) {
        return forbidden_page(&account);
    }
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
    let bars = |rows: &[leaderboard::Standing]| -> Vec<chart::Bar> {
        rows.iter()
            .map(|s| chart::Bar::new(&s.label, s.net_fen))
            .collect()
    };
    let body = format!(
        "<div class=\"charts\">{}{}</div><h3>团队 Teams</h3>{}<h3>销售员 Sellers</h3>{}",
        chart_figure(
            "团队净销售额 Teams",
            &chart::rows(&bars(&board.teams), "团队 Teams", 10)
        ),
        chart_figure(
            "销售员前十 Top sellers",
            &chart::rows(&bars(&board.sellers), "销售员 Sellers", 10)
        ),
        table("teams", &board.teams, false),
        table("sellers", &board.sellers, true)
    );
    page(&state, "/leaderboard", "竞赛排行 Leaderboard", &body)
}

pub(crate) async fn anomalies(State(state): State<AppState>, headers: HeaderMap) -> Response {
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
