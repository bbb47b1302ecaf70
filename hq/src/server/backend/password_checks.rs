//! Password checks, a few at a time: each login's Argon2 on a blocking thread, as many at
//! once as the machine has cores, the others waiting their turn or answered busy.

use std::sync::Arc;
use std::time::Duration;

use crate::{Error, Result};

/// Password checks (Argon2, about 19 MiB of memory each) that may run at once in this
/// process, one per core: a flood of logins, from many addresses or from one with browser
/// cookies of its own (each counted apart), held a blocking thread and the memory of a check
/// each, up to tokio's 512 blocking threads (gigabytes), the tills' database work queued
/// behind them.
fn password_checks() -> Arc<tokio::sync::Semaphore> {
    static CHECKS: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    CHECKS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            Arc::new(tokio::sync::Semaphore::new(cores.max(2)))
        })
        .clone()
}

/// How long a login waits for its turn at [`password_checks`] before it is answered busy.
const PASSWORD_CHECK_WAIT: Duration = Duration::from_secs(10);

/// Runs `check` (a password's) on a blocking thread once one of [`password_checks`] is free,
/// or answers busy after [`PASSWORD_CHECK_WAIT`].
pub(super) async fn checking_a_password<T: Send + 'static>(
    check: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    in_turn(password_checks(), PASSWORD_CHECK_WAIT, check).await
}

/// Runs `check` on a blocking thread holding one of `turns`, or answers busy when none is
/// free within `wait`.
async fn in_turn<T: Send + 'static>(
    turns: Arc<tokio::sync::Semaphore>,
    wait: Duration,
    check: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let permit = tokio::time::timeout(wait, turns.acquire_owned())
        .await
        .map_err(|_| Error::Busy("too many logins at once".into()))?
        .map_err(|e| Error::Other(format!("the password checks: {e}")))?;
    tokio::task::spawn_blocking(move || {
        let _turn = permit;
        check()
    })
    .await
    .map_err(|e| Error::Other(format!("the login task: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_checks_run_as_many_at_once_as_there_are_turns_and_the_rest_wait() {
        let turns = Arc::new(tokio::sync::Semaphore::new(2));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut checks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let (turns, running, most) = (turns.clone(), running.clone(), most.clone());
            checks.spawn(in_turn(turns, Duration::from_secs(60), move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(i)
            }));
        }
        let mut done = Vec::new();
        while let Some(check) = checks.join_next().await {
            done.push(check.unwrap().unwrap());
        }
        done.sort();
        assert_eq!(done, (0..8).collect::<Vec<_>>(), "every check ran");
        // Never more than two at once (whether two overlapped is the machine's doing).
        let most = most.load(Ordering::SeqCst);
        assert!((1..=2).contains(&most), "{most} at once");
    }

    #[tokio::test]
    async fn a_check_that_finds_no_turn_in_time_is_answered_busy() {
        let turns = Arc::new(tokio::sync::Semaphore::new(1));
        let _held = turns.clone().acquire_owned().await.unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = ran.clone();
        let answer = in_turn(turns, Duration::from_millis(50), move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await;
        let e = answer.unwrap_err();
        assert!(e.is_busy(), "{e}");
        assert_eq!(
            crate::web::told(&e),
            "too many logins at once: try again in 2 s"
        );
        assert_eq!(ran.load(Ordering::SeqCst), 0, "the check did not run");
    }
}
