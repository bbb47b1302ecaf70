//! Who did what at a headquarters on PostgreSQL: the audit log every `hq serve` process and
//! every data directory naming the database writes to (the commands that changed it, the
//! logins), as a SQLite headquarters keeps it in its own database; each entry linked to the
//! one before it ([`chain`]).

pub mod chain;

use futures::StreamExt;

use self::chain::{Junctions, Link};
use crate::{Error, Pool, Result};

/// The action of the entry a prune writes of itself.
pub const PRUNE_ACTION: &str = "audit prune";

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

/// The advisory lock writers of the log take turns on, so that each entry follows the one
/// written before it ("chain" in ASCII).
const CHAIN_LOCK: i64 = 0x63_6861_696e;

/// Each entry's place in the chain ([`chain`]), written by the database itself for every
/// writer (this build's, an older one still running, `psql`): a trigger that takes the
/// chain's lock, numbers the entry, links it to the newest (or to the `follows` given) and
/// hashes it as [`chain::digest`] does (PostgreSQL 11's `sha256`). The entries written
/// before are linked in order here, once.
pub(crate) fn chain_sql() -> String {
    // A field as the digest takes it: its length in bytes, ':', its bytes, a newline.
    let field = |t: &str| {
        format!(
            "convert_to(octet_length(convert_to({t}, 'UTF8'))::text || ':', 'UTF8') \
             || convert_to({t}, 'UTF8') || decode('0a', 'hex')"
        )
    };
    let follows = field("follows");
    let at = field(&as_text("at"));
    let (actor, address) = (field("actor"), field("address"));
    let (action, detail) = (field("action"), field("detail"));
    let start = chain::START;
    format!(
        r#"
ALTER TABLE audit_log
    ADD COLUMN IF NOT EXISTS follows TEXT,
    ADD COLUMN IF NOT EXISTS digest TEXT;

-- An entry's digest (audit::chain::digest), its time as it is read back: UTC, to the second.
-- Built-in functions alone, so that it runs with any search_path and is inlined where it
-- is called (a function with its own search_path is 20 times slower).
CREATE OR REPLACE FUNCTION fairpos_audit_digest(
    follows TEXT, at TIMESTAMPTZ, actor TEXT, address TEXT, action TEXT, detail TEXT
) RETURNS TEXT LANGUAGE sql STABLE STRICT AS
$$ SELECT encode(sha256(
       convert_to('fairpos audit 1', 'UTF8') || decode('0a', 'hex')
       || {follows}
       || {at}
       || {actor} || {address}
       || {action} || {detail}), 'hex') $$;

-- (The trigger keeps the schema it was made in: a restore that runs with another
-- search_path still finds the table and the digest.)
CREATE OR REPLACE FUNCTION fairpos_audit_link() RETURNS TRIGGER LANGUAGE plpgsql
    SET search_path FROM CURRENT AS
$$
DECLARE
    newest TEXT;
BEGIN
    -- Numbered and linked with the chain locked: in the order the entries are linked.
    PERFORM pg_advisory_xact_lock({CHAIN_LOCK});
    NEW.id := nextval(pg_get_serial_sequence('audit_log', 'id'));
    NEW.at := date_trunc('second', NEW.at);
    IF NEW.follows IS NULL THEN
        SELECT digest INTO newest FROM audit_log
            WHERE digest IS NOT NULL ORDER BY id DESC LIMIT 1;
        NEW.follows := coalesce(newest, '{start}');
    END IF;
    NEW.digest := fairpos_audit_digest(
        NEW.follows, NEW.at, NEW.actor, NEW.address, NEW.action, NEW.detail);
    RETURN NEW;
END
$$;

-- Numbered by the trigger alone, so that no number is drawn twice.
ALTER TABLE audit_log ALTER COLUMN id DROP DEFAULT;
DROP TRIGGER IF EXISTS audit_log_link ON audit_log;
CREATE TRIGGER audit_log_link BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION fairpos_audit_link();

-- The entries written before, linked in order, 10 000 rows written at a time.
DO $$
DECLARE
    r RECORD;
    previous TEXT := '{start}';
    ids BIGINT[] := '{{}}';
    followed TEXT[] := '{{}}';
    digests TEXT[] := '{{}}';
BEGIN
    PERFORM pg_advisory_xact_lock({CHAIN_LOCK});
    FOR r IN SELECT id, at, actor, address, action, detail FROM audit_log
             WHERE digest IS NULL ORDER BY id LOOP
        ids := ids || r.id;
        followed := followed || previous;
        previous := fairpos_audit_digest(previous, r.at, r.actor, r.address, r.action, r.detail);
        digests := digests || previous;
        IF cardinality(ids) >= 10000 THEN
            UPDATE audit_log a SET follows = u.f, digest = u.d
                FROM unnest(ids, followed, digests) AS u(i, f, d) WHERE a.id = u.i;
            ids := '{{}}';
            followed := '{{}}';
            digests := '{{}}';
        END IF;
    END LOOP;
    UPDATE audit_log a SET follows = u.f, digest = u.d
        FROM unnest(ids, followed, digests) AS u(i, f, d) WHERE a.id = u.i;
END
$$;
"#
    )
}

/// Writes what `actor` from `address` did, now: the database links it ([`chain_sql`]).
pub async fn record(
    pool: &Pool,
    actor: &str,
    address: &str,
    action: &str,
    detail: &str,
) -> Result<()> {
    let mut client = pool.get().await?;
    // Read committed whatever the database's default: the trigger, once it has the chain's
    // lock, sees the entry the writer before it committed.
    let tx = crate::read_committed(&mut client).await?;
    tx.execute(
        "INSERT INTO audit_log(actor, address, action, detail) VALUES ($1, $2, $3, $4)",
        &[&actor, &address, &action, &detail],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The newest linked entry's digest ([`chain::START`] for none), the chain locked until
/// `tx` ends: no entry is written meanwhile.
async fn head(tx: &tokio_postgres::Transaction<'_>) -> Result<String> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHAIN_LOCK])
        .await?;
    let row = tx
        .query_opt(
            "SELECT digest FROM audit_log WHERE digest IS NOT NULL ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await?;
    Ok(row.map_or_else(|| chain::START.to_string(), |r| r.get(0)))
}

/// Walks the whole log in order of numbers, giving `each` every entry with its number and
/// link ([`chain::Check`] judges them).
pub async fn walk(pool: &Pool, mut each: impl FnMut(i64, StoredEntry, Link)) -> Result<()> {
    let walked = walked_in_batches(pool, 1024, false, |batch| {
        batch
            .into_iter()
            .for_each(|(id, entry, link)| each(id, entry, link));
        std::future::ready(())
    })
    .await;
    walked.map(drop)
}

/// Every entry of the log in order of numbers with its link, handed to `each` up to `size`
/// at a time, each batch awaited before the next is read (a caller that hashes them off the
/// async workers hands them on); unless another walk of this kind runs, from any process
/// or data directory on the database: then `false`, and nothing is walked (the dashboard's
/// check, which a province's organizers may ask of any process behind the balancer at
/// once).
pub async fn walk_alone_in_batches<F, Handed>(pool: &Pool, size: usize, each: F) -> Result<bool>
where
    F: FnMut(Vec<(i64, StoredEntry, Link)>) -> Handed,
    Handed: std::future::Future<Output = ()>,
{
    walked_in_batches(pool, size, true, each).await
}

/// The advisory lock a walk of [`walk_alone_in_batches`] holds ("walk" in ASCII).
pub const WALK_LOCK: i64 = 0x7761_6c6b;

async fn walked_in_batches<F, Handed>(
    pool: &Pool,
    size: usize,
    alone: bool,
    mut each: F,
) -> Result<bool>
where
    F: FnMut(Vec<(i64, StoredEntry, Link)>) -> Handed,
    Handed: std::future::Future<Output = ()>,
{
    let mut client = pool.get().await?;
    // The lock, held as long as the read: a transaction's, let go however it ends.
    let tx = client.transaction().await?;
    if alone {
        let taken = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&WALK_LOCK])
            .await?;
        if !taken.get::<_, bool>(0) {
            return Ok(false);
        }
    }
    let query = format!(
        "SELECT id, {}, actor, address, action, detail, follows, digest FROM audit_log
         ORDER BY id",
        as_text("at")
    );
    let none: [&(dyn tokio_postgres::types::ToSql + Sync); 0] = [];
    let rows = tx.query_raw(&query, none).await?;
    futures::pin_mut!(rows);
    let mut batch = Vec::with_capacity(size);
    while let Some(row) = rows.next().await {
        batch.push(numbered_from(&row?));
        if batch.len() >= size {
            each(std::mem::replace(&mut batch, Vec::with_capacity(size))).await;
        }
    }
    if !batch.is_empty() {
        each(batch).await;
    }
    tx.commit().await?;
    Ok(true)
}

/// An entry with its number and link, from a row of `id, at, actor, address, action,
/// detail, follows, digest` (`at` as [`as_text`] gives it).
fn numbered_from(row: &tokio_postgres::Row) -> (i64, StoredEntry, Link) {
    let entry = (row.get(1), row.get(2), row.get(3), row.get(4), row.get(5));
    let link = Link {
        follows: row.get(6),
        digest: row.get(7),
    };
    (row.get(0), entry, link)
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
    /// Takes entry `id`, the next oldest, and its place in the chain.
    fn add(
        &mut self,
        id: i64,
        entry: StoredEntry,
        link: Link,
    ) -> std::result::Result<(), Self::Error>;
    /// Flushes the `count` entries taken to disk.
    fn flush(&mut self, count: u64) -> std::result::Result<(), Self::Error>;
    /// The entry that says so (naming `junctions`, [`chain::with_junctions`]), to be
    /// written as they leave the log.
    fn entry(&mut self, junctions: &[String]) -> std::result::Result<NewEntry, Self::Error>;
    /// Gives the archive its name: the last step before the entries leave the log.
    fn name(&mut self) -> std::result::Result<(), Self::Error>;
}

/// Moves the entries written before `before` (a time PostgreSQL reads, RFC 3339) out of
/// the log into `archive`, oldest first, in one transaction with the entry it gives once it
/// has them on disk, and names it just before the commit. None before: nothing is written
/// or removed, and nothing kept. Prunes from any process take turns; an entry written
/// meanwhile is written now, so never before `before`. The prune's entry names where the
/// chain continues after the entries removed ([`chain::CONTINUES_FROM`]). How many were
/// removed.
pub async fn prune<A: Archive>(
    pool: &Pool,
    before: &str,
    archive: &mut A,
) -> std::result::Result<u64, A::Error> {
    let mut client = pool.get().await.map_err(Error::from)?;
    // The prune before, waited for at the lock, is seen committed.
    let tx = crate::read_committed(&mut client).await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PRUNE_LOCK])
        .await
        .map_err(Error::from)?;
    let before_param: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&before];
    // Up to the last entry before, with those written later among them (a clock set back),
    // which stay: where the chain continues after each gap is named.
    let query = format!(
        "SELECT id, {}, actor, address, action, detail, follows, digest,
                at < $1::text::timestamptz
         FROM audit_log
         WHERE id <= (SELECT max(id) FROM audit_log WHERE at < $1::text::timestamptz)
         ORDER BY id",
        as_text("at")
    );
    let rows = tx
        .query_raw(&query, before_param)
        .await
        .map_err(Error::from)?;
    futures::pin_mut!(rows);
    let (mut count, mut last) = (0u64, 0i64);
    let mut junctions = Junctions::default();
    while let Some(row) = rows.next().await {
        let row = row.map_err(Error::from)?;
        let (id, entry, link) = numbered_from(&row);
        let removed: bool = row.get(8);
        junctions.add(removed, &entry, link.follows.as_deref());
        if removed {
            last = id;
            archive.add(id, entry, link)?;
            count += 1;
        }
    }
    if count == 0 {
        return Ok(0);
    }
    // On disk before the chain is locked: writers wait for the removal alone.
    archive.flush(count)?;
    // The prune's entry follows the newest entry before the removal (the last removed,
    // when it was the newest).
    let newest = head(&tx).await?;
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
    // What the entry after the last removed follows; none after it, the prune's own entry.
    let next = tx
        .query_opt(
            "SELECT follows FROM audit_log WHERE id > $1 ORDER BY id LIMIT 1",
            &[&last],
        )
        .await
        .map_err(Error::from)?;
    let next_follows = match next {
        Some(row) => row.get(0),
        None => Some(newest.clone()),
    };
    let junctions = junctions.finish(next_follows.as_deref());
    let (actor, address, action, detail) = archive.entry(&junctions)?;
    tx.execute(
        "INSERT INTO audit_log(actor, address, action, detail, follows)
         VALUES ($1, $2, $3, $4, $5)",
        &[&actor, &address, &action, &detail, &newest],
    )
    .await
    .map_err(Error::from)?;
    archive.name()?;
    tx.commit().await.map_err(Error::from)?;
    Ok(count)
}
