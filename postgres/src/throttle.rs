//! Failed guesses (logins, enrolment codes) counted in the database, so that every process
//! of a headquarters counts them together: behind a load balancer a guesser's attempts are
//! spread over the processes, and counts kept by each would give it as many tries as there
//! are processes.
//!
//! An attempt is counted before its guess is checked, under a transaction-level advisory
//! lock per key, so parallel guesses through several processes get no more tries; it is
//! then taken back ([`undo`], [`forget`]) when the guess was right. Times are the
//! database's, the one clock every process shares.

use crate::{Pool, Result};

/// What the attempts are kept in: one row per attempt still in its key's window.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS hq_attempts (
    id  BIGSERIAL PRIMARY KEY,
    key TEXT COLLATE \"C\" NOT NULL,
    at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS hq_attempts_key ON hq_attempts (key, at);
CREATE INDEX IF NOT EXISTS hq_attempts_at ON hq_attempts (at);
";

/// The class of the advisory locks attempts on one key take turns on ("thr").
const THROTTLE_LOCK: i32 = 0x74_6872;

/// One key's limit: how many failures in how many seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLimit {
    pub failures: u32,
    pub window_seconds: u32,
}

/// Begins an attempt on every key of `keys` at once: refused with the seconds to wait when
/// any key has had its limit of failures in its window (then counted nowhere); otherwise
/// counted against each, answering each key's attempt's id, in `keys`' order. Attempts
/// older than `longest_window_seconds` are swept out of every key.
pub async fn begin(
    pool: &Pool,
    keys: &[(&str, KeyLimit)],
    longest_window_seconds: u32,
) -> Result<std::result::Result<Vec<i64>, u64>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // In one order, so two attempts on the same keys never wait for each other crosswise.
    let mut locked: Vec<&str> = keys.iter().map(|(key, _)| *key).collect();
    locked.sort_unstable();
    locked.dedup();
    for key in locked {
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&THROTTLE_LOCK, &key],
        )
        .await?;
    }
    tx.execute(
        "DELETE FROM hq_attempts
          WHERE at < clock_timestamp() - make_interval(secs => $1::int)",
        &[&(longest_window_seconds as i32)],
    )
    .await?;
    let mut wait: Option<u64> = None;
    for (key, limit) in keys {
        // The failures-th newest attempt in the window: the key is free again once it
        // leaves the window.
        let row = tx
            .query_opt(
                "SELECT ceil(extract(epoch FROM
                             at + make_interval(secs => $2::int) - clock_timestamp()))::bigint
                   FROM hq_attempts
                  WHERE key = $1 AND at >= clock_timestamp() - make_interval(secs => $2::int)
                  ORDER BY at DESC, id DESC
                 OFFSET $3 LIMIT 1",
                &[
                    key,
                    &(limit.window_seconds as i32),
                    &(i64::from(limit.failures) - 1),
                ],
            )
            .await?;
        if let Some(row) = row {
            let seconds = row.get::<_, i64>(0).max(1) as u64;
            wait = wait.max(Some(seconds));
        }
    }
    if let Some(seconds) = wait {
        return Ok(Err(seconds));
    }
    let mut ids = Vec::with_capacity(keys.len());
    for (key, limit) in keys {
        let id: i64 = tx
            .query_one(
                "INSERT INTO hq_attempts(key, at) VALUES ($1, clock_timestamp()) RETURNING id",
                &[key],
            )
            .await?
            .get(0);
        // No more than the limit is ever needed to decide: the older ones go.
        tx.execute(
            "DELETE FROM hq_attempts
              WHERE key = $1
                AND id NOT IN (SELECT id FROM hq_attempts WHERE key = $1
                                ORDER BY at DESC, id DESC LIMIT $2)",
            &[key, &i64::from(limit.failures)],
        )
        .await?;
        ids.push(id);
    }
    tx.commit().await?;
    Ok(Ok(ids))
}

/// Takes back one attempt (it succeeded, or failed for a reason other than a wrong guess).
pub async fn undo(pool: &Pool, id: i64) -> Result<()> {
    let client = pool.get().await?;
    client
        .execute("DELETE FROM hq_attempts WHERE id = $1", &[&id])
        .await?;
    Ok(())
}

/// Forgets every attempt on `key` (a success from that address).
pub async fn forget(pool: &Pool, key: &str) -> Result<()> {
    let client = pool.get().await?;
    client
        .execute("DELETE FROM hq_attempts WHERE key = $1", &[&key])
        .await?;
    Ok(())
}
