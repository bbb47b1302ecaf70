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

/// An index of the log by time: `hq audit --since`, the dashboard's days and `hq audit
/// prune` find a day's entries in a province's log without reading all of it.
pub(crate) const BY_TIME: &str = "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);";

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

/// The time `column` gives, as SQLite writes an entry's (RFC 3339, UTC, to the second), in
/// a query.
fn as_text(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
}

/// The last `latest` entries (every one for `None`), oldest first: `(at, actor, address,
/// action, detail)`, `at` in RFC 3339 (UTC, to the second, as SQLite's).
pub async fn entries(pool: &Pool, latest: Option<u32>) -> Result<Vec<StoredEntry>> {
    entries_where(pool, &Filter::default(), latest).await
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
    let query = format!(
        "SELECT {}, actor, address, action, detail
         FROM (SELECT * FROM audit_log
               WHERE ($1::text IS NULL OR at >= $1::text::timestamptz)
                 AND ($2::text IS NULL OR at < $2::text::timestamptz)
                 AND ($3::text IS NULL OR action = $3)
                 AND ($4::text IS NULL OR strpos(actor, $4) > 0)
               ORDER BY id DESC LIMIT $5) AS latest
         ORDER BY id",
        as_text("at")
    );
    let asked: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
        &filter.since,
        &filter.until,
        &filter.action,
        &filter.actor,
        &limit,
    ];
    let rows = client.query(&query, &asked).await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect())
}

/// An entry as [`entries`] gives it: `(at, actor, address, action, detail)`.
pub type StoredEntry = (String, String, String, String, String);

/// An entry to write: `(actor, address, action, detail)`.
pub type NewEntry = (String, String, String, String);

/// The advisory lock prunes of the log take turns on ("audit" in ASCII).
const PRUNE_LOCK: i64 = 0x61_7564_6974;

/// Entries written before a time: how many, and when the first and the last were (RFC
/// 3339, UTC).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// How many.
    pub entries: u64,
    /// When the first was written (none for none).
    pub first_at: Option<String>,
    /// When the last was written.
    pub last_at: Option<String>,
}

/// What the log holds written before `before` (a time PostgreSQL reads, RFC 3339).
pub async fn found_before(pool: &Pool, before: &str) -> Result<Found> {
    let client = pool.get().await?;
    let query = format!(
        "SELECT COUNT(*), {}, {} FROM audit_log WHERE at < $1::text::timestamptz",
        as_text("MIN(at)"),
        as_text("MAX(at)"),
    );
    let row = client.query_one(&query, &[&before]).await?;
    let entries: i64 = row.get(0);
    Ok(Found {
        entries: entries.unsigned_abs(),
        first_at: row.get(1),
        last_at: row.get(2),
    })
}

/// Where a prune's entries go.
pub trait Archive {
    /// What the archive's own steps fail with.
    type Error: From<Error>;
    /// Takes entry `id`, the next oldest.
    fn add(&mut self, id: i64, entry: StoredEntry) -> std::result::Result<(), Self::Error>;
    /// Flushes the `count` entries taken to disk; the entry that says so, to be written as
    /// they leave the log.
    fn finish(&mut self, count: u64) -> std::result::Result<NewEntry, Self::Error>;
    /// Gives the archive its name: the last step before the entries leave the log.
    fn name(&mut self) -> std::result::Result<(), Self::Error>;
}

/// Moves the entries written before `before` (a time PostgreSQL reads, RFC 3339) out of
/// the log into `archive`, oldest first, in one transaction with the entry it gives once it
/// has them on disk, and names it just before the commit. None before: nothing is written
/// or removed, and nothing kept. Prunes from any process take turns; an entry written
/// meanwhile is written now, so never before `before`. How many were removed.
pub async fn prune<A: Archive>(
    pool: &Pool,
    before: &str,
    archive: &mut A,
) -> std::result::Result<u64, A::Error> {
    let mut client = pool.get().await.map_err(Error::from)?;
    // Read committed whatever the database's default: the prune before, waited for at the
    // lock, is seen committed.
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(Error::from)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PRUNE_LOCK])
        .await
        .map_err(Error::from)?;
    let before_param: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&before];
    let query = format!(
        "SELECT id, {}, actor, address, action, detail
         FROM audit_log WHERE at < $1::text::timestamptz ORDER BY id",
        as_text("at")
    );
    let rows = tx
        .query_raw(&query, before_param)
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
    let (actor, address, action, detail) = archive.finish(count)?;
    tx.execute(
        "INSERT INTO audit_log(actor, address, action, detail) VALUES ($1, $2, $3, $4)",
        &[&actor, &address, &action, &detail],
    )
    .await
    .map_err(Error::from)?;
    archive.name()?;
    tx.commit().await.map_err(Error::from)?;
    Ok(count)
}
