//! The organizers' dashboard and its JSON API, served by `fairpos hq serve`.
//!
//! Server-rendered HTML, legible in Chinese, usable without JavaScript, printable. Every page
//! and API route answers only a logged-in account whose role reaches it: the login form sets
//! an HttpOnly session cookie (the API also takes `Authorization: Bearer <token>` from
//! `POST /api/v1/login`); anonymous callers get 401, other roles 403. An organizer sees
//! everything; a stall lead the stalls page and the reconciliation of its own stall; a unit
//! its own itemised list and downloads ([`crate::accounts`]).

mod api;
mod audit_check;
mod auth;
pub mod chart;
mod pages;
mod statements;
mod views;

pub(crate) use auth::{
    asks_for_a_bearer_token, bearer, log_in, organizer, session_token, LoginRefused,
};

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use fairpos_domain::Fen;
use fairpos_projection::report;
use rusqlite::Connection;

use crate::accounts::Access;
use crate::state::AppState;
use crate::{Error, Result};

/// The account asking, or the login page (401) for no one; then, unless `$allowed(&access)`,
/// a page saying this role may not see it (403). A database that could not say is
/// headquarters' failure (503 when busy), not a logout.
macro_rules! page_for {
    ($state:expr, $headers:expr, $allowed:expr) => {
        match super::auth::viewer(&$state, &$headers).await {
            Err(e) => return super::failure(e),
            Ok(None) => return super::auth::unauthorized_page(),
            Ok(Some(account)) if !$allowed(&account.access) => {
                return super::auth::forbidden_page(&account)
            }
            Ok(Some(account)) => account,
        }
    };
}

/// As [`page_for`], answering in JSON.
macro_rules! api_for {
    ($state:expr, $headers:expr, $allowed:expr) => {
        match super::auth::viewer(&$state, &$headers).await {
            Err(e) => return super::api_failure(e),
            Ok(None) => return super::auth::unauthorized_json(),
            Ok(Some(account)) if !$allowed(&account.access) => return super::auth::forbidden_json(),
            Ok(Some(account)) => account,
        }
    };
}

/// Organizers only: 401 for no one, 403 for other roles.
macro_rules! organizer_only {
    ($state:expr, $headers:expr) => {
        super::page_for!($state, $headers, |a: &crate::accounts::Access| a
            .is_organizer())
    };
}

/// As [`organizer_only`], answering in JSON.
macro_rules! organizer_api {
    ($state:expr, $headers:expr) => {
        super::api_for!($state, $headers, |a: &crate::accounts::Access| a
            .is_organizer())
    };
}
pub(crate) use {api_for, organizer_api, organizer_only, page_for};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", get(auth::logout_page).post(auth::logout))
        .route("/stalls", get(pages::stalls))
        .route("/counties", get(pages::counties))
        .route("/units", get(pages::units))
        .route("/units/{code}", get(pages::unit_page))
        .route("/leaderboard", get(pages::leaderboard))
        .route("/anomalies", get(pages::anomalies))
        .route("/anomalies/doubtful", get(pages::doubtful))
        .route("/statements", get(statements::statements_page))
        .route("/statements/export", get(statements::statements_export))
        .route("/audit", get(pages::audit))
        .route("/audit/verify", get(audit_check::audit_verify))
        .route("/api/v1/reconciliation", get(api::api_reconciliation))
        .route("/api/v1/doubtful", get(api::api_doubtful))
        .route("/api/v1/report", get(api::api_report))
        .route("/api/v1/leaderboard", get(api::api_leaderboard))
        .route("/api/v1/units/{code}", get(api::api_unit))
}

/// A moment as the fair's clock shows it: `2026-11-22 10:15`.
pub(crate) fn local_at(offset: chrono::FixedOffset, text: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) => t
            .with_timezone(&offset)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => text.to_string(),
    }
}

pub(crate) fn yuan(fen: i64) -> String {
    // The sign before the currency sign; `Fen` writes any amount (`abs` overflowed on the
    // most negative).
    let text = Fen(fen).to_string();
    match text.strip_prefix('-') {
        Some(abs) => format!("-￥{abs}"),
        None => format!("￥{text}"),
    }
}

pub(crate) const STYLE: &str = "
body { font-family: 'Noto Sans CJK SC', 'Noto Sans SC', 'WenQuanYi Micro Hei', sans-serif;
       margin: 0; color: #1b1b1b; background: #fafafa; }
header { background: #8a1c1c; color: #fff; padding: 0.6em 1.2em; }
header h1 { font-size: 1.2em; margin: 0; }
nav { background: #fff; border-bottom: 1px solid #ddd; padding: 0.4em 1.2em; }
nav a { margin-right: 1.2em; color: #8a1c1c; text-decoration: none; }
nav a.here { font-weight: bold; text-decoration: underline; }
nav form { display: inline; }
nav button { border: 0; padding: 0; background: none; color: #8a1c1c; font: inherit;
             cursor: pointer; }
main { padding: 1em 1.2em; }
table { border-collapse: collapse; margin: 0.6em 0 1.4em; background: #fff; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
th { background: #f0e6e6; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.bad { color: #b00020; font-weight: bold; }
.ok { color: #1b6e20; }
.totals span { display: inline-block; margin-right: 2em; font-size: 1.2em; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr));
          gap: 1em; margin: 0.6em 0 1.4em; }
figure.chart { background: #fff; border: 1px solid #ddd; margin: 0; padding: 0.5em; }
figure.chart figcaption { font-weight: bold; color: #8a1c1c; margin-bottom: 0.3em; }
figure.chart svg { width: 100%; height: auto; max-height: 360px; }
@media print { nav, .noprint { display: none; } header { background: none; color: #000; }
               body { background: #fff; } figure.chart { break-inside: avoid; } }
";

const PAGES: [(&str, &str); 8] = [
    ("/", "总览 Overview"),
    ("/stalls", "摊位与班次 Stalls & shifts"),
    ("/counties", "产地县 Counties"),
    ("/units", "采购单位 Units"),
    ("/leaderboard", "竞赛排行 Leaderboard"),
    ("/anomalies", "异常 Anomalies"),
    ("/statements", "账单核对 Statements"),
    ("/audit", "操作记录 Audit log"),
];

/// A dashboard page for an organizer.
pub(crate) fn page(state: &AppState, here: &str, title: &str, body: &str) -> Response {
    page_as(state, &Access::Organizer, here, title, body)
}

/// A dashboard page whose menu holds only what `access` may open; `body` is a rendered
/// template.
pub(crate) fn page_as(
    state: &AppState,
    access: &Access,
    here: &str,
    title: &str,
    body: &str,
) -> Response {
    let home = access.home();
    let pages: Vec<(&str, &str)> = match access {
        Access::Organizer => PAGES.to_vec(),
        Access::StallLead(_) => vec![PAGES[1]],
        Access::Unit(_) => vec![(home.as_str(), "本单位采购 Our purchases")],
    };
    let frame = views::Frame {
        fair: &state.fair.name,
        title,
        style: STYLE,
        nav: pages
            .into_iter()
            .map(|(href, label)| views::NavItem {
                href,
                label,
                here: href == here,
            })
            .collect(),
        body,
    };
    match views::render(&frame) {
        Ok(html) => Html(html).into_response(),
        Err(e) => failure(e),
    }
}

/// How long a client told the database is busy is asked to wait before trying again, in
/// seconds (`Retry-After`).
const BUSY_RETRY_AFTER_S: &str = "2";

/// A request that failed with `e`, answered with `body`: 503 with `Retry-After` when the
/// database was too busy to give a connection in time ([`Error::is_busy`]), 400 for the
/// request's own fault, otherwise 500.
pub(crate) fn failed_with(e: &Error, body: impl IntoResponse) -> Response {
    if e.is_busy() {
        let retry = [(axum::http::header::RETRY_AFTER, BUSY_RETRY_AFTER_S)];
        (StatusCode::SERVICE_UNAVAILABLE, retry, body).into_response()
    } else if e.is_bad_input() {
        (StatusCode::BAD_REQUEST, body).into_response()
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
    }
}

/// Any path the server does not serve: a page saying so, or JSON under `/api/`.
pub(crate) async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        let body = axum::Json(serde_json::json!({ "error": "no such route" }));
        return (StatusCode::NOT_FOUND, body).into_response();
    }
    auth::notice(
        StatusCode::NOT_FOUND,
        "未找到 Not found",
        ("/", "首页 Home"),
    )
}

/// A page that failed ([`failed_with`]), saying what to do ([`told`]).
pub(crate) fn failure(e: Error) -> Response {
    failed_with(&e, told(&e))
}

/// A JSON API call that failed ([`failed_with`]): `{"error": …}` ([`told`]), as every other
/// answer of the API is JSON (it was the page's plain text).
pub(crate) fn api_failure(e: Error) -> Response {
    let body = axum::Json(serde_json::json!({ "error": told(&e) }));
    failed_with(&e, body)
}

/// What a client is told of a request that failed with `e`: that the database is busy, or
/// that headquarters failed, the error itself going to the server's log (once a minute for
/// each kind), not to the client (it may name files, hosts or SQL).
pub(crate) fn told(e: &Error) -> String {
    use crate::quiet_log::QuietLog;
    static FAILURES: std::sync::OnceLock<std::sync::Arc<QuietLog>> = std::sync::OnceLock::new();
    if let Error::Busy(why) = e {
        return format!("{why}: try again in {BUSY_RETRY_AFTER_S} s");
    }
    if e.is_busy() {
        return format!("the database is busy: try again in {BUSY_RETRY_AFTER_S} s");
    }
    if matches!(e, Error::Postgres(p) if p.is_unkeepable_text()) {
        // The request's fault, told without the database's own words.
        return "the request holds a character no name or code holds (a NUL)".to_string();
    }
    if e.is_bad_input() {
        return e.to_string();
    }
    let line = format!("a request failed: {e}");
    let kind: String = line.chars().take(60).collect();
    FAILURES
        .get_or_init(QuietLog::told_when_due_if_running)
        .write(kind, line);
    "headquarters failed to answer; its log says why".to_string()
}

/// A file to download, `filename` of type `content_type`, or the failure that made none. The
/// name keeps ASCII letters, digits, `-`, `_` and `.`, each other character written `_`: a
/// unit's credit code comes from a till's ledger, and one with a quote or a line break (a
/// forged one) made no header, the download answered 500. A CSV file starts with the UTF-8
/// byte order mark: Excel on a Chinese Windows, which the finance offices open these in,
/// takes a CSV without one for GBK, and every name in it came out garbled.
pub(crate) fn attachment(bytes: Result<Vec<u8>>, content_type: &str, filename: &str) -> Response {
    const BOM: &[u8] = "\u{FEFF}".as_bytes();
    let bytes = bytes.map(
        |b| match content_type.starts_with("text/csv") && !b.starts_with(BOM) {
            true => [BOM, &b].concat(),
            false => b,
        },
    );
    let filename: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match bytes {
        Ok(b) => (
            [
                (axum::http::header::CONTENT_TYPE, content_type.to_string()),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{filename}\""),
                ),
            ],
            b,
        )
            .into_response(),
        Err(e) => failure(e),
    }
}

/// Runs `f` on a read-only connection, off the async workers: what every page and API
/// route reads its figures with.
pub(crate) async fn read<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    state.readers.read(f).await
}

/// A report's table, rendered.
pub(crate) fn report_table(
    f: &views::Formats,
    r: &report::Report,
    key_label: &str,
) -> Result<String> {
    views::render(&views::ReportTable { f, r, key_label })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_puts_the_sign_before_the_currency_sign_for_any_amount() {
        assert_eq!(yuan(12_800), "￥128.00");
        assert_eq!(yuan(-50), "-￥0.50");
        assert_eq!(yuan(i64::MIN), "-￥92233720368547758.08");
    }

    #[tokio::test]
    async fn a_csv_download_starts_with_a_byte_order_mark_once() {
        for csv in [
            "名称\n".as_bytes().to_vec(),
            "\u{FEFF}名称\n".as_bytes().to_vec(),
        ] {
            let answer = attachment(Ok(csv), "text/csv; charset=utf-8", "a.csv");
            let body = axum::body::to_bytes(answer.into_body(), 1024)
                .await
                .unwrap();
            assert_eq!(&body[..], "\u{FEFF}名称\n".as_bytes());
        }
        let xlsx = attachment(Ok(vec![0x50, 0x4B]), "application/zip", "a.xlsx");
        let body = axum::body::to_bytes(xlsx.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], [0x50, 0x4B]);
    }

    #[test]
    fn a_download_is_named_in_characters_a_header_holds() {
        let answer = attachment(Ok(vec![1]), "text/csv", "unit-9143\"\r\nX: y.csv");
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(
            answer.headers()[axum::http::header::CONTENT_DISPOSITION],
            "attachment; filename=\"unit-9143___X__y.csv\""
        );
    }

    #[test]
    fn a_busy_database_is_answered_503_with_when_to_try_again_other_failures_500() {
        use deadpool_postgres::{PoolError, TimeoutType};
        let busy = Error::Postgres(fairpos_postgres::Error::Pool(PoolError::Timeout(
            TimeoutType::Wait,
        )));
        assert!(busy.is_busy());
        let answer = failure(busy);
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.headers()["retry-after"], BUSY_RETRY_AFTER_S);
        // Not a wait that ran out: a connection that could not be made at all.
        let down = Error::Postgres(fairpos_postgres::Error::Pool(PoolError::Timeout(
            TimeoutType::Create,
        )));
        let answer = failure(down);
        assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!answer.headers().contains_key("retry-after"));
        assert_eq!(
            failure(Error::Other("x".into())).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        // SQLite's writer held past the busy timeout: busy too.
        let locked = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        );
        let locked = Error::Sql(locked);
        assert!(locked.is_busy());
        assert_eq!(failure(locked).status(), StatusCode::SERVICE_UNAVAILABLE);
        // What failed is the log's, not the client's.
        let secret = Error::Other("/srv/fairpos/hq.db: disk I/O error".into());
        assert!(!told(&secret).contains("/srv"));
    }
}
