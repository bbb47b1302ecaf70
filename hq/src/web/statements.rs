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

#[derive(Template)]
#[template(path = "statements.html")]
struct StatementsBody<'a> {
    m: &'a StatementMatch,
    files: &'a [StatementFile],
}

impl StatementsBody<'_> {
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
