//! `/audit/verify`: an organizer has the audit log walked as a hash chain, as `hq audit
//! verify` walks it ([`crate::audit::verify`]): whole (200), or where it is broken (409).
//! One walk at a time (a province's million entries take seconds): in a process, and on
//! PostgreSQL among every process on the database; another asked meanwhile is answered 503
//! with `Retry-After`.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth::notice;
use super::pages::AUDIT_BACK;
use super::{failure, organizer_only, BUSY_RETRY_AFTER_S};
use crate::state::AppState;

/// Whether a walk runs in this process.
static WALKING: AtomicBool = AtomicBool::new(false);

/// Clears [`WALKING`] however the walk ends.
struct Walking;

impl Walking {
    /// The walk of this process, unless one runs (then no guard is made, whose drop would
    /// clear the flag of the walk running).
    fn begin() -> Option<Walking> {
        if WALKING.swap(true, Ordering::AcqRel) {
            None
        } else {
            Some(Walking)
        }
    }
}

impl Drop for Walking {
    fn drop(&mut self) {
        WALKING.store(false, Ordering::Release);
    }
}

/// The answer while a walk runs.
fn busy() -> Response {
    let busy = notice(
        StatusCode::SERVICE_UNAVAILABLE,
        "正在校验，请稍后再试 A check of the chain is running: try again in a moment",
        AUDIT_BACK,
    );
    ([(RETRY_AFTER, BUSY_RETRY_AFTER_S)], busy).into_response()
}

pub(crate) async fn audit_verify(State(state): State<AppState>, headers: HeaderMap) -> Response {
    organizer_only!(state, headers);
    let Some(walking) = Walking::begin() else {
        return busy();
    };
    // Held by the walk itself: a request given up (a reload, a timeout) leaves it walking,
    // and the next is answered 503 until it ends.
    let verdict = match state.audit_checked(walking).await {
        Ok(Some(verdict)) => verdict,
        // Another process on the PostgreSQL database walks it.
        Ok(None) => return busy(),
        Err(e) => return failure(e),
    };
    if let Some(broken) = &verdict.broken {
        let said = format!("审计链已断 The audit log is broken: {broken}");
        return notice(StatusCode::CONFLICT, &said, AUDIT_BACK);
    }
    let Some((newest, digest)) = &verdict.head else {
        return notice(
            StatusCode::OK,
            "审计记录为空 The audit log is empty",
            AUDIT_BACK,
        );
    };
    let mut said = format!(
        "审计链完整 The audit log is whole: {} entries, each as written and following the one \
         before it. Newest: #{newest}, digest {digest}.",
        verdict.entries
    );
    for (after, by) in &verdict.pruned {
        said += &format!(
            " Entries before #{after} were removed by the prune of entry #{by}, as it says \
             (`fairpos hq audit verify --archive` checks them)."
        );
    }
    notice(StatusCode::OK, &said, AUDIT_BACK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_walk_at_a_time_the_next_asked_to_come_back() {
        let first = Walking::begin().expect("no walk yet");
        // Refused, and refused again: a refusal leaves the running walk's flag alone.
        assert!(Walking::begin().is_none());
        assert!(Walking::begin().is_none());
        let answer = busy();
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.headers()["retry-after"], BUSY_RETRY_AFTER_S);
        drop(first);
        assert!(Walking::begin().is_some());
    }
}
