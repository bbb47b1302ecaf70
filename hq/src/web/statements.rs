//! The statements page: the tills' QR payments and refunds against the providers'
//! statements, the "paid on paper only" alarm first; and its CSV/XLSX export. The body is an
//! askama template (auto-escaped).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{attachment, failure, organizer_only, page, read, yuan};
use crate::state::AppState;
use crate::statements::matching::{match_statements, StatementMatch, DEFAULT_WINDOW_MINUTES};
use crate::statements::{export, files, StatementFile};

/// The most rows of each list the page shows: a fair's matched payments run to hundreds of
/// thousands (a province's day to millions), which drew a page of tens of megabytes. The
/// counts are of every row, and the export holds them all.
const SHOWN: usize = 500;

#[derive(Template)]
#[template(path = "statements.html")]
struct StatementsBody<'a> {
    m: &'a StatementMatch,
    files: &'a [StatementFile],
    shown: usize,
}

impl StatementsBody<'_> {
    /// The first [`SHOWN`] rows of a list.
    fn first<'s, T>(&self, all: &'s [T]) -> &'s [T] {
        &all[..all.len().min(self.shown)]
    }

    /// How many rows of a list are not shown.
    fn more<T>(&self, all: &[T]) -> usize {
        all.len().saturating_sub(self.shown)
    }

    fn yuan<T: std::borrow::Borrow<i64>>(&self, fen: T) -> String {
        yuan(*fen.borrow())
    }

    /// A shift id shortened to what a person compares: its first eight characters.
    fn short<'s>(&self, id: &'s str) -> &'s str {
        id.get(..8).unwrap_or(id)
    }
}

/// The match on a headquarters on PostgreSQL: sellers' names from the data directory's
/// catalog, the rest from the database.
async fn matched_on_postgres(
    state: &AppState,
    pool: &fairpos_postgres::Pool,
) -> crate::Result<crate::statements::matching::StatementMatch> {
    let sellers = read(state, crate::statements::matching::seller_names).await?;
    crate::statements::matching::match_statements_postgres(pool, sellers, DEFAULT_WINDOW_MINUTES)
        .await
}

pub(crate) async fn statements_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    let data = match &state.pg_organizers {
        Some(pool) => {
            async {
                let m = matched_on_postgres(&state, pool).await?;
                Ok((m, crate::statements::postgres::files(pool).await?))
            }
            .await
        }
        None => {
            read(&state, |db| {
                Ok((match_statements(db, DEFAULT_WINDOW_MINUTES)?, files(db)?))
            })
            .await
        }
    };
    let (m, files) = match data {
        Ok(d) => d,
        Err(e) => return failure(e),
    };
    let body = StatementsBody {
        m: &m,
        files: &files,
        shown: SHOWN,
    };
    match body.render() {
        Ok(html) => page(&state, "/statements", "账单核对 Statements", &html),
        Err(e) => failure(crate::Error::Other(format!("the statements template: {e}"))),
    }
}

pub(crate) async fn statements_export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    organizer_only!(state, headers);
    let format = q.get("format").map_or("csv", String::as_str);
    let (content_type, extension) = match format {
        "csv" => ("text/csv; charset=utf-8", "csv"),
        "xlsx" => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        _ => return (StatusCode::BAD_REQUEST, "format: csv or xlsx").into_response(),
    };
    let matched = match &state.pg_organizers {
        Some(pool) => matched_on_postgres(&state, pool).await,
        None => read(&state, |db| match_statements(db, DEFAULT_WINDOW_MINUTES)).await,
    };
    let bytes = matched.and_then(|m| {
        if extension == "csv" {
            export::csv(&m)
        } else {
            export::xlsx(&m)
        }
    });
    attachment(bytes, content_type, &format!("statements.{extension}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statements::matching::{Matched, Recorded};

    #[test]
    fn the_page_lists_at_most_its_share_of_each_list_and_counts_the_rest() {
        let recorded = |n: usize| Recorded {
            stall: "S01".into(),
            device: "T01".into(),
            sale: format!("T01-{n:06}"),
            record: String::new(),
            seller: "V003".into(),
            seller_name: "<b>李</b>".into(),
            shift: "0123456789".into(),
            method: "wechat",
            flow: "payment",
            amount_fen: 1_000,
            at: "2026-11-22 10:00:00".into(),
        };
        let m = StatementMatch {
            window_minutes: DEFAULT_WINDOW_MINUTES,
            matched: (1..=SHOWN + 7)
                .map(|n| Matched {
                    recorded: recorded(n),
                    txn: format!("4200{n:08}"),
                    statement_at: "2026-11-22 10:00:05".into(),
                    seconds_apart: 5,
                })
                .collect(),
            recorded_not_in_statement: vec![recorded(900_001)],
            in_statement_not_recorded: Vec::new(),
            not_covered: Vec::new(),
        };
        let body = StatementsBody {
            m: &m,
            files: &[],
            shown: SHOWN,
        };
        let page = body.render().unwrap();
        assert!(page.contains(&format!("<b id=\"matched\">{}</b>", SHOWN + 7)));
        assert_eq!(page.matches("data-sale=\"T01-").count(), SHOWN + 1);
        assert!(page.contains("T01-000500") && !page.contains("T01-000501"));
        assert_eq!(page.matches("more: the export holds them all").count(), 1);
        assert!(
            page.contains("(7 more: the export holds them all)"),
            "{page}"
        );
        let seller = page.find("V003 ").map(|at| &page[at..at + 40]);
        assert!(!page.contains("<b>李"), "escaped: {seller:?}");
    }
}
