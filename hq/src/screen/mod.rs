//! The fair's live big screen (数据大屏) at `/screen`, on headquarters and on a fair hub.
//!
//! One task per server ([`publish`]) recomputes the figures, while a screen is open, when the
//! projection applies new records (at most twice a second, and every half minute for the
//! tills' "last seen") and publishes them on a watch channel ([`publisher`]); each open
//! screen holds a server-sent event stream (`/screen/events`) that forwards what is
//! published, so a hundred screens cost one query.
//! The page is rendered whole on the server first (an askama template, auto-escaped), its
//! charts as SVG ([`crate::web::chart`]); its one script (`/screen/screen.js`, served from
//! the binary like everything else it loads) swaps in what the stream brings and counts the
//! total up. `EventSource` reconnects by itself when the server restarts.
//!
//! Who may look: an organizer's session, or a screen token (`fairpos hq screen-link`) in the
//! query string, which opens nothing else.

pub mod figures;
pub mod publisher;
pub mod tokens;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::Stream;
use serde::Deserialize;
use tokio::sync::watch;

use self::figures::Figures;
use crate::state::{AppState, Published};
use crate::web::failure;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/screen", get(page))
        .route("/screen/events", get(events))
        .route("/screen/screen.js", get(script))
}

#[derive(Clone, Deserialize)]
pub(crate) struct Access {
    token: Option<String>,
}

/// A valid screen token when the link holds one (checked on a blocking thread), else an
/// organizer's session, as [`still_may_watch`] checks again; an error when the database
/// cannot say.
async fn may_watch(state: &AppState, headers: &HeaderMap, access: &Access) -> crate::Result<bool> {
    match access.token.clone() {
        Some(token) => state.screen_token_valid(token).await,
        None => crate::web::organizer(state, headers).await,
    }
}

/// [`may_watch`] answered: `None` to go on, else the refusal, or, when the database could
/// not say (the venue's power back before PostgreSQL), a page that asks again in a while:
/// said as "revoked", on a page that never reloads, every screen stayed so until someone
/// reloaded it by hand.
async fn refused_unless_watching(
    state: &AppState,
    headers: &HeaderMap,
    access: &Access,
) -> Option<Response> {
    match may_watch(state, headers, access).await {
        Ok(true) => None,
        Ok(false) => Some(refused()),
        Err(e) => {
            eprintln!("checking a screen link: {e}");
            Some(not_now())
        }
    }
}

/// How long a screen that could not be let in waits before asking again, in seconds.
const ASK_AGAIN_S: &str = "10";

fn not_now() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, ASK_AGAIN_S)],
        Html(format!(
            "<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" \
             content=\"{ASK_AGAIN_S}\"><title>大屏 Screen</title>\
             <p>总部暂时无法确认此链接，稍后自动重试。Headquarters cannot check this link \
             now: trying again in a moment.</p>"
        )),
    )
        .into_response()
}

/// Whether an open screen may watch on: its token not revoked, or its organizer's session
/// not ended (looked up without recording a use, which would keep an idle session alive). A
/// database that cannot say now is asked again later.
async fn still_may_watch(state: &AppState, headers: &HeaderMap, access: &Access) -> bool {
    let checked = match (&access.token, crate::web::session_token(headers)) {
        (Some(token), _) => state.screen_token_valid(token.clone()).await,
        (None, Some(session)) => state.still_holds(session).await,
        (None, None) => Ok(false),
    };
    checked.unwrap_or(true)
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Html(
            "<!doctype html><meta charset=\"utf-8\"><title>大屏 Screen</title>\
             <p>此链接无效或已撤销。This screen link is not valid or was revoked.</p>",
        ),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "screen.html")]
struct ScreenPage<'a> {
    fair: &'a str,
    figures: &'a Figures,
    panels: Vec<figures::Panel>,
}

async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(access): Query<Access>,
) -> Response {
    if let Some(refusal) = refused_unless_watching(&state, &headers, &access).await {
        return refusal;
    }
    // Read afresh, or drawn within two seconds before ([`crate::recent`]): the stream then
    // carries what is published.
    let draw = || async {
        let figures = Figures::gather(&state).await?;
        let page = ScreenPage {
            fair: &state.fair.name,
            panels: figures.panels(),
            figures: &figures,
        };
        page.render()
            .map_err(|e| crate::Error::Other(format!("the screen's template: {e}")))
    };
    match state.screen_page.get(draw).await {
        Ok(html) => Html(html.as_str().to_owned()).into_response(),
        Err(e) => failure(e),
    }
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../../assets/screen.js"),
    )
        .into_response()
}

async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(access): Query<Access>,
) -> Response {
    if let Some(refusal) = refused_unless_watching(&state, &headers, &access).await {
        return refusal;
    }
    let watching = state.screen_watchers.enter();
    let (screen, stopping) = (state.screen.clone(), state.stopping.clone());
    let still_allowed = move || {
        let (state, headers, access) = (state.clone(), headers.clone(), access.clone());
        async move { still_may_watch(&state, &headers, &access).await }
    };
    Sse::new(stream(screen, stopping, watching, still_allowed))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// How often an open screen's token (or organizer's session) is looked at again: a screen
/// whose token was revoked, or whose session ended, stops within this.
const RECHECK: Duration = Duration::from_secs(5);

/// What is published, as events: the latest at once, then each change, until the server
/// stops (so a graceful shutdown does not wait on open screens) or the screen may no longer
/// watch (`still_allowed`, asked every [`RECHECK`] at most, published or not). The screen
/// counts among those `watching` until its stream is dropped.
fn stream<F, Fut>(
    screen: watch::Receiver<Option<Arc<Published>>>,
    stopping: watch::Receiver<bool>,
    watching: crate::state::Watching,
    still_allowed: F,
) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let checked = tokio::time::Instant::now();
    futures::stream::unfold(
        (
            screen,
            stopping,
            true,
            watching,
            still_allowed,
            checked,
            false,
        ),
        |(mut screen, mut stopping, first, watching, still_allowed, mut checked, ended)| async move {
            if ended {
                return None;
            }
            let mut revoked = false;
            if !first {
                loop {
                    let due = checked + RECHECK;
                    let published = tokio::select! {
                        changed = screen.changed() => {
                            changed.ok()?;
                            true
                        }
                        _ = stopping.wait_for(|s| *s) => return None,
                        _ = tokio::time::sleep_until(due) => false,
                    };
                    if tokio::time::Instant::now() >= due {
                        if !still_allowed().await {
                            revoked = true;
                            break;
                        }
                        checked = tokio::time::Instant::now();
                    }
                    if published {
                        break;
                    }
                }
            }
            let event = if revoked {
                // Told, the page stops asking and shows no figures any more (it went on
                // showing the last, and asked again every two seconds); the stream ends.
                Event::default().event("revoked").data("")
            } else {
                if *stopping.borrow() {
                    return None;
                }
                match screen.borrow_and_update().clone() {
                    // A screen that lost its server retries after a second.
                    Some(p) => Event::default()
                        .event("figures")
                        .retry(Duration::from_secs(1))
                        .data(p.json.clone()),
                    None => Event::default().comment("no figures yet"),
                }
            };
            let next = (
                screen,
                stopping,
                false,
                watching,
                still_allowed,
                checked,
                revoked,
            );
            Some((Ok(event), next))
        },
    )
}

/// Computes the figures and publishes them on `out` while a screen watches
/// ([`publisher::run`]). Reads through `state` (SQLite's read connections, beside the
/// projection's writes, never holding up the device routes; or PostgreSQL's pool).
pub async fn publish(
    state: AppState,
    projected: watch::Receiver<u64>,
    out: watch::Sender<Option<Arc<Published>>>,
) {
    let figures = || async {
        let figures = Figures::gather(&state).await?;
        Ok(serde_json::json!({
            "net_fen": figures.net_fen,
            "net": figures.net,
            "sales": figures.sales,
            "tills": figures.tills,
            "synced": figures.synced,
            "complete": figures.complete,
            "panels": figures
                .panels()
                .into_iter()
                .map(|p| (p.id, p.svg))
                .collect::<std::collections::BTreeMap<_, _>>(),
        })
        .to_string())
    };
    let pace = publisher::Pace {
        least: Duration::from_millis(500),
        most: Duration::from_secs(30),
    };
    let stopping = state.stopping.clone();
    publisher::run(
        figures,
        &state.screen_watchers,
        projected,
        out,
        stopping,
        pace,
    )
    .await
}
