//! The organizers' JSON API: the same figures as the pages.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fairpos_projection::report::{self, Dimension};

use super::{api_for, failure, organizer_api, read};
use crate::accounts::Access;
use crate::state::AppState;
use crate::{leaderboard, reconcile, unit_items};

pub(crate) async fn api_reconciliation(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    let account = api_for!(state, headers, |a: &Access| matches!(
        a,
        Access::Organizer | Access::StallLead(_)
    ));
    let stall = match &account.access {
        Access::StallLead(stall) => Some(stall.clone()),
        _ => None,
    };
    let reconciled = match &state.pg {
        Some(pool) => reconcile::postgres::reconcile(pool, stall.as_deref()).await,
        None => {
            let of = move |db: &rusqlite::Connection| match &stall {
                Some(stall) => reconcile::of_stall(db, stall),
                None => reconcile::reconcile(db),
            };
            read(&state, of).await
        }
    };
    match reconciled {
        Ok(r) => Json(r).into_response(),
        Err(e) => failure(e),
    }
}

pub(crate) async fn api_report(
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
    let built = match &state.pg {
        Some(pool) => fairpos_postgres::report::build(pool, by)
            .await
            .map_err(crate::Error::from),
        None => read(&state, move |db| Ok(report::build(db, by)?)).await,
    };
    match built {
        Ok(r) => Json(r).into_response(),
        Err(e) => failure(e),
    }
}

pub(crate) async fn api_leaderboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_api!(state, headers);
    let fair = state.fair.clone();
    let board = match &state.pg {
        Some(pool) => leaderboard::of_postgres(pool, &fair).await,
        None => read(&state, move |db| leaderboard::of(db, &fair)).await,
    };
    match board {
        Ok(b) => Json(b).into_response(),
        Err(e) => failure(e),
    }
}

pub(crate) async fn api_unit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    api_for!(state, headers, |a: &Access| a.may_see_unit(&code));
    let listed = match &state.pg {
        Some(pool) => unit_items::of_postgres(pool, &code).await,
        None => read(&state, move |db| unit_items::of(db, &code)).await,
    };
    match listed {
        Ok(Some(u)) => Json(u).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "no such unit"})),
        )
            .into_response(),
        Err(e) => failure(e),
    }
}
