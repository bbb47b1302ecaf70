//! The schema in PostgreSQL, by numbered migrations. Each runs once, in order, inside one
//! transaction with the row that records it; a transaction-level advisory lock makes
//! processes that start together take turns, so two `hq postgres project` starting at once
//! neither fail nor apply a migration twice.

use fairpos_projection::schema::PROJECTION;

use std::time::Duration;

use crate::{Pool, Result};

/// The advisory lock key every migration holds ("fairpos" in ASCII).
const MIGRATION_LOCK: i64 = 0x66_6169_7270_6f73;

/// Headquarters' own indexes on the projection, as a SQLite headquarters has them: what
/// reconciliation, a unit's list and the reports look sales up by.
const HQ_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS sales_id ON sales (id);
CREATE INDEX IF NOT EXISTS sales_shift ON sales (shift_id);
CREATE INDEX IF NOT EXISTS sales_unit ON sales (unit_tax_id) WHERE unit_tax_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS shifts_device ON shifts (device);
CREATE INDEX IF NOT EXISTS cash_moves_shift ON cash_moves (shift_id);
";

/// The fair's stalls, which name the rows of a report by stall.
const STALLS: &str = "
CREATE TABLE IF NOT EXISTS stalls (
    id   TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    team TEXT NOT NULL
);
";

/// Every migration, in order: its number and what it does.
pub const MIGRATIONS: [(i32, &str); 17] = [
    (
        1,
        "the projection, headquarters' indexes, stalls, the roll-up",
    ),
    (2, "samod's document chunks"),
    (
        3,
        "devices, enrolment codes, announced documents, sync events",
    ),
    (4, "the dashboard's accounts and sessions"),
    (5, "oversold lines with their sale's till, number and name"),
    (
        6,
        "failed logins and enrolment codes, counted by every process",
    ),
    (7, "who did what at headquarters: the audit log"),
    (8, "the audit log by time, for finding and pruning by day"),
    (
        9,
        "the audit log as a hash chain: each entry linked to the one before",
    ),
    (
        10,
        "the device registry's token, another whenever a device changes",
    ),
    (
        11,
        "voids and refunds with their sale's till, refunds' lines with the line sold",
    ),
    (
        12,
        "what each ledger's records come to, so its projection resumes",
    ),
    (13, "the heads at which a ledger's records came to that"),
    (
        14,
        "the chunks each ledger was projected from, so its next changes are read alone",
    ),
    (
        15,
        "products tills added, kept until the catalog holds them",
    ),
    (
        16,
        "sales indexed by their id once: a sale copying another's id is refused",
    ),
    (
        17,
        "statement files with the flows they account for (payments, refunds or both)",
    ),
];

/// What a statement file accounts for: `both` flows, or the one a file of payments or
/// refunds only holds (files imported before, both, as they were read then).
const STATEMENT_FLOWS: &str = "
ALTER TABLE statement_files ADD COLUMN IF NOT EXISTS flows TEXT NOT NULL DEFAULT 'both';
";

/// Sales indexed by their id, once: a ledger holding a sale whose id another till's sale
/// holds is refused (where before both were taken, and a void of either named two sales:
/// its ledger tried again without end). A database whose sales already hold an id twice
/// keeps the plain index ([`migrate`] says so).
const SALE_IDS_ONCE: &str = "
DO $$
BEGIN
    CREATE UNIQUE INDEX IF NOT EXISTS sales_id_once ON sales (id);
    DROP INDEX IF EXISTS sales_id;
EXCEPTION WHEN unique_violation THEN
    NULL;
END $$;
";

/// `sale_oversold`'s sale and name columns (`schema.sql`), for a projection made before
/// them, filled from the sales and lines projected.
fn oversold_sales() -> String {
    format!(
        "ALTER TABLE sale_oversold
             ADD COLUMN IF NOT EXISTS device TEXT COLLATE \"C\",
             ADD COLUMN IF NOT EXISTS seq BIGINT,
             ADD COLUMN IF NOT EXISTS number TEXT COLLATE \"C\",
             ADD COLUMN IF NOT EXISTS name_zh TEXT COLLATE \"C\";
         {}",
        fairpos_projection::schema::FILL_OVERSOLD_SALES
    )
}

/// The columns of voids, refunds and refunds' lines that hold their sale's till and the line
/// sold (`schema.sql`), for a projection made before them, filled where the sale is projected.
fn correction_sales() -> String {
    format!(
        "ALTER TABLE voids ADD COLUMN IF NOT EXISTS sale_device TEXT COLLATE \"C\";
         ALTER TABLE refunds ADD COLUMN IF NOT EXISTS sale_device TEXT COLLATE \"C\";
         ALTER TABLE refund_lines
             ADD COLUMN IF NOT EXISTS sold_sku TEXT COLLATE \"C\",
             ADD COLUMN IF NOT EXISTS sold_qty BIGINT,
             ADD COLUMN IF NOT EXISTS sold_fen BIGINT;
         {}",
        fairpos_projection::schema::FILL_CORRECTION_SALES
    )
}

/// samod's key-value store: a document's chunks under `<document id>/<kind>/<name>`, keys
/// compared byte by byte so that a document's keys are one range.
const DOCUMENTS: &str = "
CREATE TABLE IF NOT EXISTS samod_kv (
    key   TEXT COLLATE \"C\" PRIMARY KEY,
    bytes BYTEA NOT NULL
);
";

fn migration_sql(version: i32) -> String {
    match version {
        1 => format!(
            "{}{HQ_INDEXES}{STALLS}{}",
            crate::dialect::postgres_text(PROJECTION),
            crate::rollup::schema()
        ),
        2 => DOCUMENTS.to_string(),
        3 => crate::registry::SCHEMA.to_string(),
        4 => crate::accounts::SCHEMA.to_string(),
        5 => oversold_sales(),
        6 => crate::throttle::SCHEMA.to_string(),
        7 => crate::audit::SCHEMA.to_string(),
        8 => crate::audit::BY_TIME.to_string(),
        9 => crate::audit::chain_sql(),
        10 => crate::registry_token::SCHEMA.to_string(),
        11 => correction_sales(),
        12 => crate::registry::WEIGHTS.to_string(),
        13 => crate::registry::WEIGHT_HEADS.to_string(),
        14 => crate::registry::CHUNKS_READ.to_string(),
        15 => crate::till_added::SCHEMA.to_string(),
        16 => SALE_IDS_ONCE.to_string(),
        17 => STATEMENT_FLOWS.to_string(),
        _ => unreachable!("migration {version} is listed in MIGRATIONS"),
    }
}

/// Brings the database to the latest schema, and fills the oversold rows, voids and refunds
/// an older build wrote without their sale. Returns the migrations it applied (none when another process
/// had already).
///
/// A rolling upgrade migrates while older processes serve: a migration's change of a table
/// waits for their transactions on it for [`LOCK_WAIT`] at most (while it waits, every new
/// query of that table queues behind it), and one that waited too long, or that PostgreSQL
/// ended for a deadlock with an older process's projection, is tried again from the start,
/// [`MIGRATION_TRIES`] times, rather than ending the new process.
pub async fn migrate(pool: &Pool) -> Result<Vec<i32>> {
    let mut attempt = 0;
    loop {
        match migrate_once(pool).await {
            Err(e)
                if (e.is_retryable() || e.is_lock_timeout()) && attempt + 1 < MIGRATION_TRIES =>
            {
                attempt += 1;
                eprintln!("migrating the database: {e}; trying again ({attempt})");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            done => return done,
        }
    }
}

/// How long a migration's statement waits for a lock held by another process's transaction.
const LOCK_WAIT: &str = "5s";

/// How many times [`migrate`] tries.
const MIGRATION_TRIES: u32 = 10;

async fn migrate_once(pool: &Pool) -> Result<Vec<i32>> {
    let mut client = pool.get().await?;
    // Read committed whatever the database's default: a migration sees what was committed
    // before each of its statements (the audit log's entries, linked by 9).
    let tx = crate::read_committed(&mut client).await?;
    // Processes starting together take turns here, for as long as a migration takes (an
    // index over ten million sales takes a while): this wait has no limit, nor have the
    // migrations, whatever limits the role or the server sets (a managed database's
    // `statement_timeout` cancelled a long one at every start).
    tx.batch_execute("SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0")
        .await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS fairpos_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let applied: Vec<i32> = tx
        .query("SELECT version FROM fairpos_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // A database a newer build migrated further (a process rolled back to an older build):
    // written on by this one, in a schema it does not know, it could count wrongly.
    let known = MIGRATIONS.iter().map(|(v, _)| *v).max().unwrap_or(0);
    if let Some(newer) = applied.iter().copied().filter(|v| *v > known).max() {
        return Err(crate::Error::Integrity(format!(
            "the database is of schema {newer}, newer than this build's {known}: run the \
             build that migrated it, or a newer one"
        )));
    }
    let mut now_applied = Vec::new();
    for (version, name) in MIGRATIONS {
        if applied.contains(&version) {
            continue;
        }
        tx.batch_execute(&migration_sql(version)).await?;
        tx.execute(
            "INSERT INTO fairpos_migrations(version, name) VALUES ($1, $2)",
            &[&version, &name],
        )
        .await?;
        now_applied.push(version);
    }
    // Said at each start while it is missing (it was said once, at the migration, and
    // forgotten), cheaply: finding the id held twice reads every sale.
    let missing_once = "SELECT to_regclass('sales_id_once') IS NULL";
    let missing = tx.query_one(missing_once, &[]).await?.get::<_, bool>(0);
    if missing && !now_applied.contains(&16) {
        eprintln!(
            "warning: the sales' ids are not indexed once (a sale's id was held twice when \
             this database was migrated): a sale copying another till's id is taken, not \
             refused"
        );
    }
    if missing && now_applied.contains(&16) {
        let twice: Option<String> = tx
            .query_opt(
                "SELECT id FROM sales WHERE to_regclass('sales_id_once') IS NULL
                 GROUP BY id HAVING count(*) > 1 LIMIT 1",
                &[],
            )
            .await?
            .map(|r| r.get(0));
        if let Some(twice) = twice {
            eprintln!("{}", fairpos_projection::apply::sale_held_twice(&twice));
        }
    }
    if !now_applied.contains(&5) {
        // Oversold rows an older build's process wrote since migration 5, without their sale
        // and name (as a SQLite headquarters fills them at every open). Looked for first
        // among the oversold rows alone, so that a start where there are none never lets
        // the planner choose to read every sale. (A row whose sale is not projected would
        // stay empty and be looked for at every start; none can be, as a projection writes
        // a sale and its oversold rows in one transaction.)
        let empty: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM sale_oversold WHERE device IS NULL)",
                &[],
            )
            .await?
            .get(0);
        if empty {
            tx.batch_execute(fairpos_projection::schema::FILL_OVERSOLD_SALES)
                .await?;
        }
    }
    if !now_applied.contains(&11) {
        // Voids and refunds an older build's process wrote since migration 11 without their
        // sale's till (or whose sale it projected without filling them), as a SQLite
        // headquarters fills them at every open. Those whose sale is not held stay empty and
        // are looked for again; the fill finds each sale by its index.
        let empty: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM voids WHERE sale_device IS NULL)
                     OR EXISTS (SELECT 1 FROM refunds WHERE sale_device IS NULL)",
                &[],
            )
            .await?
            .get(0);
        if empty {
            tx.batch_execute(fairpos_projection::schema::FILL_CORRECTION_SALES)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(now_applied)
}

/// The migrations [`migrate`] would apply now, in order, with what each does: none for a
/// database up to date. Reads the database, writes nothing.
pub async fn pending(pool: &Pool) -> Result<Vec<(i32, &'static str)>> {
    let applied = applied(pool).await?;
    Ok(MIGRATIONS
        .into_iter()
        .filter(|(version, _)| !applied.contains(version))
        .collect())
}

/// The latest migration applied, 0 for a database fairpos never used.
pub async fn schema_version(pool: &Pool) -> Result<i32> {
    Ok(applied(pool).await?.into_iter().max().unwrap_or(0))
}

/// The migrations applied to the database: none for one fairpos never used (without the
/// table that records them, which only [`migrate`] makes).
async fn applied(pool: &Pool) -> Result<Vec<i32>> {
    let client = pool.get().await?;
    let exists: bool = client
        .query_one("SELECT to_regclass('fairpos_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query("SELECT version FROM fairpos_migrations", &[])
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
