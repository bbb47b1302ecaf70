//! The HTTP routes devices call (see [`fairpos_sync::protocol`]); the WebSocket they sync
//! over is `sync_socket.rs`'s.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fairpos_sync::protocol::*;
use fairpos_sync::samod::DocumentId;

use crate::devices::Peer;
use crate::registry;
use crate::state::AppState;
use crate::throttle::Attempt;
use crate::web::LoginRefused;
use crate::{Error, Result};

fn api_error(status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = (
        status,
        Json(ApiError {
            error: message.into(),
        }),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        crate::web::asks_for_a_bearer_token(&mut response);
    }
    response
}

/// A request that failed, saying why in JSON (503 when the database was busy).
fn failed(e: Error) -> Response {
    let body = Json(ApiError {
        error: crate::web::told(&e),
    });
    crate::web::failed_with(&e, body)
}

pub(super) fn bearer(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    crate::web::bearer(headers).or_else(|| query.get("token").cloned())
}

/// Who the request's credentials name: a device, or an organizer's session; an error
/// response when none or bad (401), or a stall lead's or a unit's login (403: those read
/// only through the dashboard's filters). Checked off the async workers (a blocking thread
/// on SQLite, the pool on PostgreSQL).
pub(super) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> std::result::Result<Peer, Box<Response>> {
    let token = bearer(headers, query)
        .ok_or_else(|| Box::new(api_error(StatusCode::UNAUTHORIZED, "credentials needed")))?;
    let checked = state
        .authenticate_token(token)
        .await
        .map_err(|e| Box::new(failed(e)))?;
    let peer = checked.map_err(|e| Box::new(api_error(StatusCode::UNAUTHORIZED, e)))?;
    if matches!(peer, Peer::Person { .. }) && !peer.is_organizer() {
        return Err(Box::new(api_error(
            StatusCode::FORBIDDEN,
            "devices and organizers only",
        )));
    }
    Ok(peer)
}

pub async fn enroll(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Json(req): Json<EnrollRequest>,
) -> Response {
    let attempt = match Attempt::enrolment(&state.throttle, from.ip()).await {
        Ok(a) => a,
        Err(refused) => return refused.json(),
    };
    let signing_key = req.signing_key.clone();
    let granted = state.enroll_device(req).await;
    // The catalog is saved for a till that enrolled, not for every attempt.
    let result = granted.map(|(grant, fair_toml)| {
        let retry = grant.retry;
        let catalog = match &state.catalog {
            Some(h) => h.with_document(|d| d.save()),
            None => Vec::new(),
        };
        let response = EnrollResponse {
            device: grant.device,
            stall: grant.stall,
            role: grant.role,
            secret: grant.secret,
            fair_toml,
            catalog_key: state.catalog_key.clone(),
            catalog: EnrollResponse::encode_catalog(&catalog),
            signing_key,
        };
        (response, retry)
    });
    match result {
        Ok((r, retry)) => {
            // A retry guessed nothing: it keeps the address's failures (else one till's own
            // code, tried again, would clear them between guesses), and is not one itself.
            if retry {
                attempt.void().await;
            } else {
                attempt.succeeded().await;
            }
            let what = match r.role.as_str() {
                "hub" => "a hub".to_string(),
                _ => format!("a till of stall {}", r.stall),
            };
            state.audit(&r.device, from.ip(), "enroll", &what).await;
            Json(r).into_response()
        }
        Err(e @ (Error::Input(_) | Error::Domain(_))) => {
            attempt.failed();
            let device = crate::audit::NO_DEVICE;
            state
                .audit(device, from.ip(), "enroll refused", &e.to_string())
                .await;
            api_error(StatusCode::FORBIDDEN, e.to_string())
        }
        Err(e) => {
            attempt.void().await;
            failed(e)
        }
    }
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Json(req): Json<LoginRequest>,
) -> Response {
    let name = req.name.as_deref().unwrap_or("");
    match crate::web::log_in(&state, from.ip(), name, req.password, ("api", &[])).await {
        Ok(opened) => Json(LoginResponse {
            token: opened.token,
            peer_id: opened.peer_id,
        })
        .into_response(),
        Err(LoginRefused::TooMany(refused)) => refused.json(),
        Err(LoginRefused::Wrong(e)) => api_error(StatusCode::UNAUTHORIZED, e.to_string()),
        Err(LoginRefused::Failed(e)) => failed(e),
    }
}

/// The request's body, read only once its credentials hold: an extractor of the body (`Json`,
/// `Bytes`) read a stranger's up to [`super::MAX_BODY`] before the handler looked at who
/// sent it.
async fn body_after_credentials<T: FromRequest<AppState>>(
    state: &AppState,
    request: Request,
) -> std::result::Result<(Peer, T), Response> {
    let Query(query) = Query::<HashMap<String, String>>::try_from_uri(request.uri())
        .map_err(IntoResponse::into_response)?;
    let peer = authenticate(state, request.headers(), &query)
        .await
        .map_err(|r| *r)?;
    let body = T::from_request(request, state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((peer, body))
}

pub async fn announce(State(state): State<AppState>, request: Request) -> Response {
    let (peer, Json(req)) =
        match body_after_credentials::<Json<AnnounceRequest>>(&state, request).await {
            Ok(read) => read,
            Err(r) => return r,
        };
    let announced = state.announce_ledgers(peer, req.docs).await;
    match announced {
        Ok(None) => {
            state.announced.send_modify(|n| *n += 1);
            Json(AnnounceResponse {
                catalog_key: state.catalog_key.clone(),
            })
            .into_response()
        }
        Ok(Some(why)) => api_error(StatusCode::FORBIDDEN, why),
        Err(e) => failed(e),
    }
}

/// What headquarters has projected of the ledgers `peer` may ask about: a till its own, an
/// organizer or hub every till's. Read through the read connections (or the pool): tills
/// asking never queue on the writer.
async fn confirmed(state: &AppState, peer: &Peer, refused_only: bool) -> Result<ConfirmResponse> {
    let device = match peer {
        Peer::Till(d) => Some(d.clone()),
        _ => None,
    };
    let docs = state.confirmed_docs(device, refused_only).await?;
    Ok(ConfirmResponse { docs })
}

pub async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let peer = match authenticate(&state, &headers, &query).await {
        Ok(p) => p,
        Err(r) => return *r,
    };
    // `?only=refused`: the refused alone (a hub learning what headquarters refuses of the
    // tills it relays asks so, not for every ledger of a province).
    let refused_only = query.get("only").is_some_and(|only| only == "refused");
    match confirmed(&state, &peer, refused_only).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => failed(e),
    }
}

/// The longest a till's confirmation is held waiting for the projection.
const LONGEST_CONFIRM_WAIT: Duration = Duration::from_secs(10);

/// As [`confirm`], held until every ledger the till names is projected to the heads it
/// names (or refused), a projection pass at a time, or until its wait is over.
pub async fn confirm_waiting(State(state): State<AppState>, request: Request) -> Response {
    // Credentials first: a stranger's body is not read.
    let (peer, body) = match body_after_credentials::<axum::body::Bytes>(&state, request).await {
        Ok(read) => read,
        Err(r) => return r,
    };
    let request: ConfirmRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, format!("the question: {e}")),
    };
    let deadline = tokio::time::Instant::now()
        + Duration::from_millis(request.wait_ms).min(LONGEST_CONFIRM_WAIT);
    let wanted: HashSet<DocumentId> = request
        .docs
        .iter()
        .map(|d| fairpos_sync::ids::document_id(&d.key))
        .collect();
    let mut settled = state.settled.clone();
    let mut stopping = state.stopping.clone();
    loop {
        // Marked seen before reading: a pass that ends after the read wakes the wait below.
        let mut seen = settled.borrow_and_update().passes;
        let answer = match confirmed(&state, &peer, false).await {
            Ok(answer) => answer,
            Err(e) => return failed(e),
        };
        let settled_all = answer.missing(&request.docs).map_or(true, |m| m.is_empty());
        if settled_all || *stopping.borrow() || tokio::time::Instant::now() >= deadline {
            return Json(answer).into_response();
        }
        // Until a pass takes one of the ledgers waited for (passes over other tills' ledgers
        // are let by without a look at the database), the wait ends, or the server stops.
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                passed = settled.changed() => {
                    if passed.is_err() {
                        // No more passes (the maintenance loop has ended): the wait is
                        // served out, so that tills do not ask again at once.
                        tokio::time::sleep_until(deadline).await;
                        return Json(answer).into_response();
                    }
                    let last = settled.borrow_and_update();
                    let concerned = last.concerns(seen, &wanted);
                    seen = last.passes;
                    if concerned {
                        break;
                    }
                }
                _ = stopping.changed() => break,
            }
        }
    }
}

pub async fn list_docs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match authenticate(&state, &headers, &query).await {
        Ok(peer) if peer.is_organizer() => {}
        Ok(Peer::Hub(_)) => {}
        Ok(_) => return api_error(StatusCode::FORBIDDEN, "organizers only"),
        Err(r) => return *r,
    }
    let result = state.documents();
    match result.await {
        Ok(docs) => Json(docs).into_response(),
        Err(e) => failed(e),
    }
}

pub async fn registry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match authenticate(&state, &headers, &query).await {
        Ok(Peer::Hub(_)) => {}
        Ok(_) => return api_error(StatusCode::FORBIDDEN, "hubs only"),
        Err(r) => return *r,
    }
    let state = &state;
    let token = move || async move {
        match &state.pg {
            Some(pool) => fairpos_postgres::registry_token::token(pool)
                .await
                .map_err(Error::from),
            None => state.readers.read(registry::token).await,
        }
    };
    let entries = move || async move {
        match &state.pg {
            Some(pool) => fairpos_postgres::registry::entries(pool)
                .await
                .map_err(Error::from),
            // On a read connection: the writer carries the syncs.
            None => state.readers.read(registry::entries).await,
        }
    };
    // Kept for every hub that asks while the registry's token stays; 304 to one holding it.
    match state.registry.get(token, entries).await {
        Ok(tagged) => tagged.answer(&headers),
        Err(e) => failed(e),
    }
}

/// How long `/api/v1/ready` waits for the database's answer.
pub const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether this process can serve now, for a load balancer's check: its database answers a
/// query within [`READY_WAIT`] (PostgreSQL on a connection kept for this alone, so that
/// busy syncs or organizers do not make it look down; SQLite on a read connection). 200
/// `{"ready": true}`, else 503 saying why in general words (the database's error goes to the
/// log). `/api/v1/health` answers for as long as the process runs, whatever its database
/// does.
pub async fn ready(State(state): State<AppState>) -> Response {
    let asked = async {
        match &state.pg_ready {
            Some(pool) => {
                let client = pool.get().await.map_err(|e| e.to_string())?;
                client
                    .simple_query("SELECT 1")
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(())
            }
            // A table read, not `SELECT 1`, which SQLite answers without its file.
            None => state
                .readers
                .read(|conn| Ok(conn.query_row("SELECT count(*) FROM meta", [], |_| Ok(()))?))
                .await
                .map_err(|e| e.to_string()),
        }
    };
    let why = match tokio::time::timeout(READY_WAIT, asked).await {
        Ok(Ok(())) => return Json(serde_json::json!({ "ready": true })).into_response(),
        Ok(Err(e)) => {
            // The error names hosts, users and files: for the log (once a minute), not for
            // whoever asks.
            let line = format!("not ready: the database: {e}");
            state.refusals.write("not ready".into(), line);
            "the database failed to answer".to_string()
        }
        Err(_) => format!(
            "the database did not answer within {} s",
            READY_WAIT.as_secs()
        ),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "2")],
        Json(serde_json::json!({ "ready": false, "why": why })),
    )
        .into_response()
}

pub async fn health(State(state): State<AppState>) -> Response {
    Json(serde_json::json!({
        "fair": state.fair.id,
        "role": state.role.as_str(),
        "disk": state.disk.state().as_str(),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 401 names the scheme it takes (RFC 9110); other refusals do not.
    #[test]
    fn a_401_asks_for_a_bearer_token() {
        let asked = |r: &Response| {
            r.headers()
                .get(axum::http::header::WWW_AUTHENTICATE)
                .cloned()
        };
        let refused = api_error(StatusCode::UNAUTHORIZED, "credentials needed");
        assert_eq!(asked(&refused).unwrap(), "Bearer realm=\"fairpos\"");
        assert_eq!(asked(&api_error(StatusCode::FORBIDDEN, "no")), None);
    }
}
