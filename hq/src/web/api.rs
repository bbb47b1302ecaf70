//! The organizers' JSON API: the same figures as the pages.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fairpos_projection::report::Dimension;

use super::{api_failure, api_for, organizer_api};
use crate::accounts::Access;
use crate::state::AppState;

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
    match state.reconciliation(stall).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => api_failure(e),
    }
}

/// `GET /api/v1/doubtful`: the voids and refunds that do not square with their sales (a
/// stall lead's: of the stall's sales).
pub(crate) async fn api_doubtful(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let account = api_for!(state, headers, |a: &Access| matches!(
        a,
        Access::Organizer | Access::StallLead(_)
    ));
    let stall = match &account.access {
        Access::StallLead(stall) => Some(stall.clone()),
        _ => None,
    };
    match state.doubtful(stall).await {
        Ok(d) => Json(d).into_response(),
        Err(e) => api_failure(e),
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
    match state.report(by).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => api_failure(e),
    }
}

pub(crate) async fn api_leaderboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_api!(state, headers);
    match state.leaderboard().await {
        Ok(b) => Json(b).into_response(),
        Err(e) => api_failure(e),
    }
}

pub(crate) async fn api_unit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    // Typed in lower case, as the command line takes it too (it answered 404).
    let code = code.trim().to_ascii_uppercase();
    api_for!(state, headers, |a: &Access| a.may_see_unit(&code));
    match state.unit_items(code).await {
        Ok(Some(u)) => Json(u).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "no such unit"})),
        )
            .into_response(),
        Err(e) => api_failure(e),
    }
}
