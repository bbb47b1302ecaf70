//! Who did what at a headquarters on PostgreSQL: the audit log every `hq serve` process and
//! every data directory naming the database writes to (the commands that changed it, the
//! logins), as a SQLite headquarters keeps it in its own database.

use futures::StreamExt;

use crate::{Error, Pool, Result};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor   TEXT NOT NULL,
    address TEXT NOT NULL,
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL
);
";

/// Writes what `actor` from `address` did.
pub async fn record(
    pool: &Pool,
    actor: &str,
    address: &str,
    action: &str,
    detail: &str,
) -> Result<()> {
    crate::execute(
        pool,
        "INSERT INTO audit_log(actor, address, action, detail) VALUES ($1, $2, $3, $4)",
        &[&actor, &address, &action, &detail],
    )
    .await?;
    Ok(())
}

/// The last `latest` entries (every one for `None`), oldest first: `(at, actor, address,
/// action, detail)`, `at` in RFC 3339 (UTC, to the second, as SQLite's).
pub async fn entries(pool: &Pool, latest: Option<u32>) -> Result<Vec<StoredEntry>> {
    let client = pool.get().await?;
    let limit = latest.map(i64::from);
    let rows = client
        .query(
            "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    actor, address, action, detail
             FROM (SELECT * FROM audit_log ORDER BY id DESC LIMIT $1) AS latest ORDER BY id",
            &[&limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect())
}

/// Which entries to list: each condition given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Written at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Written before this time (RFC 3339).
    pub until: Option<String>,
    /// Of this action (`login refused`).
    pub action: Option<String>,
    /// By an actor whose name holds this text (`alice` finds `root (sudo by alice)`).
    pub actor: Option<String>,
}

/// The last `latest` entries `filter` lets through (every one for `None`), oldest first, as
/// [`entries`] gives them.
pub async fn entries_where(
    pool: &Pool,
    filter: &Filter,
    latest: Option<u32>,
) -> Result<Vec<StoredEntry>> {
    let client = pool.get().await?;
    let limit = latest.map(i64::from);
    let rows = client
        .query(
            "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    actor, address, action, detail
             FROM (SELECT * FROM audit_log
                   WHERE ($1::text IS NULL OR at >= $1::text::timestamptz)
                     AND ($2::text IS NULL OR at < $2::text::timestamptz)
                     AND ($3::text IS NULL OR action = $3)
                     AND ($4::text IS NULL OR strpos(actor, $4) > 0)
                   ORDER BY id DESC LIMIT $5) AS latest
             ORDER BY id",
            &[
                &filter.since,
                &filter.until,
                &filter.action,
                &filter.actor,
                &limit,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect())
}

/// An entry as [`entries`] gives it: `(at, actor, address, action, detail)`.
pub type StoredEntry = (String, String, String, String, String);

/// The advisory lock prunes of the log take turns on ("audit" in ASCII).
const PRUNE_LOCK: i64 = 0x61_7564_6974;

/// How many entries were written before `before` (a time PostgreSQL reads, RFC 3339), and
/// when the first and the last of them were (RFC 3339, UTC).
pub async fn count_before(
    pool: &Pool,
    before: &str,
) -> Result<(u64, Option<String>, Option<String>)> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT COUNT(*),
                    to_char(MIN(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    to_char(MAX(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
             FROM audit_log WHERE at < $1::text::timestamptz",
            &[&before],
        )
        .await?;
    let count: i64 = row.get(0);
    Ok((count.unsigned_abs(), row.get(1), row.get(2)))
}

/// Where a prune's entries go.
pub trait Archive {
    type Error: From<Error>;
    /// Takes entry `id`, the next oldest.
    fn add(&mut self, id: i64, entry: StoredEntry) -> std::result::Result<(), Self::Error>;
    /// Keeps the `count` entries taken, before they leave the log; the entry that says so.
    fn keep(&mut self, count: u64) -> std::result::Result<NewEntry, Self::Error>;
}

/// Moves the entries written before `before` (a time PostgreSQL reads, RFC 3339) out of
/// the log into `archive`, oldest first, in one transaction with the entry it gives once it
/// has kept them. None before: nothing is written or removed, and nothing kept. Prunes from
/// any process take turns; an entry written meanwhile is written now, so never before
/// `before`. How many were removed.
pub async fn prune<A: Archive>(
    pool: &Pool,
    before: &str,
    archive: &mut A,
) -> std::result::Result<u64, A::Error> {
    let mut client = pool.get().await.map_err(Error::from)?;
    let tx = client.transaction().await.map_err(Error::from)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PRUNE_LOCK])
        .await
        .map_err(Error::from)?;
    let before_param: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&before];
    let rows = tx
        .query_raw(
            "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    actor, address, action, detail
             FROM audit_log WHERE at < $1::text::timestamptz ORDER BY id",
            before_param,
        )
        .await
        .map_err(Error::from)?;
    futures::pin_mut!(rows);
    let (mut count, mut last) = (0u64, 0i64);
    while let Some(row) = rows.next().await {
        let row = row.map_err(Error::from)?;
        last = row.get(0);
        let entry = (row.get(1), row.get(2), row.get(3), row.get(4), row.get(5));
        archive.add(last, entry)?;
        count += 1;
    }
    if count == 0 {
        return Ok(0);
    }
    let removed = tx
        .execute(
            "DELETE FROM audit_log WHERE at < $1::text::timestamptz AND id <= $2",
            &[&before, &last],
        )
        .await
        .map_err(Error::from)?;
    if removed != count {
        return Err(Error::Integrity(format!(
            "the audit log: {count} entries read before {before}, but {removed} to remove"
        ))
        .into());
    }
    let (actor, address, action, detail) = archive.keep(count)?;
    tx.execute(
        "INSERT INTO audit_log(actor, address, action, detail) VALUES ($1, $2, $3, $4)",
        &[&actor, &address, &action, &detail],
    )
    .await
    .map_err(Error::from)?;
    tx.commit().await.map_err(Error::from)?;
    Ok(count)
}

/// An entry to write: `(actor, address, action, detail)`.
pub type NewEntry = (String, String, String, String);
