//! Failed guesses (logins, enrolment codes) counted in the database, so that every process
//! of a headquarters counts them together: behind a load balancer a guesser's attempts are
//! spread over the processes, and counts kept by each would give it as many tries as there
//! are processes.
//!
//! An attempt is counted before its guess is checked, under a transaction-level advisory
//! lock per key, so parallel guesses through several processes get no more tries; it is
//! then taken back ([`take_back`]) when the guess was right. Times are the database's, the
//! one clock every process shares. Each key keeps no more attempts than its limit, and
//! [`sweep`] deletes those of keys no one tries again.

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

/// The keys of an attempt refused at their limit: each one's place in the keys given, and
/// the seconds until it is free again.
pub type AtLimit = Vec<(usize, u64)>;

/// Begins an attempt on every key of `keys` at once: refused, with the keys at their limit,
/// when any key has had its limit of failures in its window (then counted nowhere);
/// otherwise counted against each, answering each key's attempt's id, in `keys`' order.
pub async fn begin(
    pool: &Pool,
    keys: &[(&str, KeyLimit)],
) -> Result<std::result::Result<Vec<i64>, AtLimit>> {
    let mut client = pool.get().await?;
    // Read committed whatever the database's default, so that what is read after a lock is
    // what the attempt before it committed.
    let tx = crate::read_committed(&mut client).await?;
    // The keys' locks in the order of what is locked (their hashes), so two attempts never
    // wait for each other crosswise, two keys of one hash included.
    let names: Vec<&str> = keys.iter().map(|(key, _)| *key).collect();
    crate::lock_names_in_order(&tx, THROTTLE_LOCK, &names).await?;
    // Each statement's time from here on is read after the locks were granted.
    let mut at_limit = AtLimit::new();
    for (place, (key, limit)) in keys.iter().enumerate() {
        let window = limit.window_seconds as i32;
        tx.execute(
            "DELETE FROM hq_attempts
              WHERE key = $1 AND at < statement_timestamp() - make_interval(secs => $2::int)",
            &[key, &window],
        )
        .await?;
        // The failures-th newest attempt in the window: the key is free again once it
        // leaves the window.
        let row = tx
            .query_opt(
                "SELECT ceil(extract(epoch FROM
                             at + make_interval(secs => $2::int) - statement_timestamp()))::bigint
                   FROM hq_attempts
                  WHERE key = $1
                  ORDER BY at DESC, id DESC
                 OFFSET $3 LIMIT 1",
                &[key, &window, &(i64::from(limit.failures) - 1)],
            )
            .await?;
        if let Some(row) = row {
            let seconds = row.get::<_, i64>(0).max(1) as u64;
            at_limit.push((place, seconds));
        }
    }
    if !at_limit.is_empty() {
        return Ok(Err(at_limit));
    }
    let mut ids = Vec::with_capacity(keys.len());
    for (key, limit) in keys {
        let id: i64 = tx
            .query_one(
                "INSERT INTO hq_attempts(key, at) VALUES ($1, statement_timestamp())
                 RETURNING id",
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

/// Takes attempts back: every attempt on `forgotten` (the key whose failures a success
/// forgets) and the attempts `ids` (a success's on the other keys, or a failure that was no
/// wrong guess), in one statement.
pub async fn take_back(pool: &Pool, forgotten: Option<&str>, ids: &[i64]) -> Result<()> {
    let client = pool.get().await?;
    client
        .execute(
            "DELETE FROM hq_attempts WHERE key = $1 OR id = ANY($2)",
            &[&forgotten, &ids],
        )
        .await?;
    Ok(())
}

/// Deletes the attempts older than `seconds` on every key (those of keys no one tries
/// again), skipping rows an attempt holds: it never waits for one, nor one for it long.
pub async fn sweep(pool: &Pool, seconds: u32) -> Result<u64> {
    let client = pool.get().await?;
    let swept = client
        .execute(
            "DELETE FROM hq_attempts WHERE id IN (
                 SELECT id FROM hq_attempts
                  WHERE at < statement_timestamp() - make_interval(secs => $1::int)
                  FOR UPDATE SKIP LOCKED)",
            &[&(seconds as i32)],
        )
        .await?;
    Ok(swept)
}
