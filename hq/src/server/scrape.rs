//! `hq serve --metrics-listen ADDR`: `GET /metrics` on a listener of its own, plain HTTP,
//! for the province's monitoring network ([`crate::metrics`]); and the middleware that
//! counts every request the main listener answers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::disk::DiskState;
use crate::metrics::{Now, PoolStatus, UNMATCHED};
use crate::state::AppState;
use crate::{Error, Result};

/// Where a monitoring system scrapes.
pub const METRICS: &str = "/metrics";

/// Counts `request` by the route it matched once it is answered, with how long it took.
pub async fn count_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, |p| p.as_str())
        .to_string();
    let response = next.run(request).await;
    state.metrics.answered(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Listens on `addr` for scrapes; what it listens on, for the line `hq serve` prints. The
/// listener stops with the server.
pub async fn listen(addr: SocketAddr, state: AppState) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Io {
            path: PathBuf::from(format!("--metrics-listen {addr}")),
            source,
        })?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Other(e.to_string()))?;
    let mut stopping = state.stopping.clone();
    let app = Router::new().route(METRICS, get(scrape)).with_state(state);
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            eprintln!("metrics listener: {e}");
        }
    });
    Ok(bound)
}

/// The metrics, in OpenMetrics when the scraper asks for it (`Accept`), else in Prometheus'
/// text format.
async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let pools = [
        ("sync", &state.pg),
        ("organizers", &state.pg_organizers),
        ("ready", &state.pg_ready),
    ];
    let now = Now {
        disk_free: (state.disk.state() != DiskState::Unknown).then(|| state.disk.free()),
        disk_min_free: state.disk.min_free(),
        disk_low: state.disk.is_low(),
        screens: *state.screen_watchers.count().borrow(),
        pools: pools
            .into_iter()
            .filter_map(|(name, pool)| {
                let status = pool.as_ref()?.status();
                Some((
                    name,
                    PoolStatus {
                        max: status.max_size,
                        open: status.size,
                        idle: status.available,
                        waiting: status.waiting,
                    },
                ))
            })
            .collect(),
    };
    match state.metrics.encode(&now, openmetrics) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                crate::metrics::content_type(openmetrics),
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("metrics: {e}")).into_response(),
    }
}
