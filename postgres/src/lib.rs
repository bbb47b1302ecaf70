//! fairpos-postgres: headquarters in PostgreSQL, shared by any number of `hq serve`
//! processes. What is here:
//! - [`connect`]: a pool of connections (deadpool-postgres over tokio-postgres, TLS by
//!   rustls) from a `postgres://USER@HOST:PORT/DB` address;
//! - [`migrate`]: the projection's tables from the same `schema.sql` a till and a SQLite
//!   headquarters use, under numbered migrations that several processes may run at once;
//! - [`project`]: a ledger's records projected in one transaction, each record exactly once
//!   however many processes project the same ledger at the same time;
//! - the roll-up of a SQLite headquarters (running totals per report key, till, shift and
//!   seller, kept in each ledger's transaction) and [`report`]s read from it, to the fen;
//! - [`documents`]: samod's document store shared by every process, each put announced to
//!   every process listening; [`project_document`]: a stored ledger projected by whichever
//!   process hears of it; [`follow`]: the loop that does so, which every process may run;
//! - [`registry`]: devices, enrolment codes, announced ledgers and how far each is projected,
//!   sync events, shift slips, payment statements; [`accounts`]: the dashboard's accounts and
//!   sessions, the big screen's tokens; [`throttle`]: failed logins and enrolment codes,
//!   counted by every process together; [`till_added`]: products tills added, kept until
//!   the catalog holds them.
//!
//! Reconciliation, the leaderboard, units' lists and statements run their SQL on a pool from
//! here (`fairpos-hq`). Not here: the catalog, which stays in the data directory (see
//! ARCHITECTURE.md, "Deliberately absent").

pub mod accounts;
mod apply;
pub mod audit;
mod bulk;
mod dialect;
pub mod documents;
mod error;
pub mod follow;
pub mod ledgers;
mod migrate;
mod password;
pub mod registry;
pub mod registry_token;
pub mod report;
mod rollup;
mod root_cert;
pub mod slips;
pub mod throttle;
pub mod till_added;
mod tls;

pub use apply::{project, project_held, Held, Projected, LEDGER_LOCK};
pub use deadpool_postgres::Pool;
pub use error::{Error, Result};
pub use ledgers::project_document;
pub use migrate::{migrate, pending, schema_version, MIGRATIONS};
pub use password::shown as shown_address;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod, Runtime};

/// A transaction that reads what was committed before each statement, whatever the
/// database's default: what a writer waited for at a lock is seen.
pub async fn read_committed(
    client: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>> {
    Ok(client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await?)
}

/// Takes, in `tx`, the transaction-level advisory locks of `class` on each of `names` (by
/// its `hashtext`), in the order of what is locked: two transactions locking overlapping
/// names never wait for each other crosswise, two names of one hash included.
pub(crate) async fn lock_names_in_order(
    tx: &deadpool_postgres::Transaction<'_>,
    class: i32,
    names: &[&str],
) -> Result<()> {
    let hashes: Vec<i32> = tx
        .query(
            "SELECT DISTINCT hashtext(k) FROM unnest($1::text[]) AS k ORDER BY 1",
            &[&names],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for hash in hashes {
        tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&class, &hash])
            .await?;
    }
    Ok(())
}

/// Connections a pool opens at most.
const DEFAULT_POOL_SIZE: usize = 16;

/// A pool of connections to the database at `url` (`postgres://USER[:PASSWORD]@HOST:PORT/DB`
/// or the key=value form libpq takes; without a password, `PGPASSWORD` or the password file,
/// as libpq reads them: see `password.rs`). Connections are opened when first needed: a wrong
/// address shows at the first [`Pool::get`], which [`migrate`] makes at once. TLS as
/// the address asks for (`sslmode`, `sslrootcert`; see `tls.rs`).
pub fn connect(url: &str) -> Result<Pool> {
    connect_sized(url, DEFAULT_POOL_SIZE)
}

/// As [`connect`], a pool of at most `connections`; a caller waits for one as long as it
/// takes.
pub fn connect_sized(url: &str, connections: usize) -> Result<Pool> {
    build(url, connections, None)
}

/// As [`connect_sized`], but a caller waits at most `wait` for a connection; then it is
/// told the database is busy ([`Error::is_busy`]) rather than left waiting. For what a
/// person waits on (the dashboard), not for the tills' syncs, which their own step timeouts
/// bound and whose storage has no way to say "busy".
pub fn connect_waiting(url: &str, connections: usize, wait: Duration) -> Result<Pool> {
    build(url, connections, Some(wait))
}

/// What each connection of a pool is set to once made (a `SET`, not startup options, which
/// a connection pooler in front may refuse): the server probes a connection gone quiet
/// after 30 s and drops it after three probes unanswered, and ends a session left idle
/// inside a transaction for ten minutes (a decode of a ledger at its size limit runs inside
/// one, well within). Without them, a host that lost power or its network while its
/// projection held the shared lock left its session holding it for the kernel's two hours,
/// and no process anywhere projected a ledger meanwhile.
pub const SESSION_SETTINGS: &str = "SET tcp_keepalives_idle = 30;
    SET tcp_keepalives_interval = 10;
    SET tcp_keepalives_count = 3;
    SET idle_in_transaction_session_timeout = '10min'";

fn build(url: &str, connections: usize, wait: Option<Duration>) -> Result<Pool> {
    let (mut config, tls) = tls::address(url)?;
    // This end's probes too, for a server gone.
    config
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3);
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let settings = deadpool_postgres::Hook::async_fn(|client, _| {
        Box::pin(async move {
            client
                .batch_execute(SESSION_SETTINGS)
                .await
                .map_err(deadpool_postgres::HookError::Backend)
        })
    });
    Pool::builder(manager)
        .max_size(connections)
        .wait_timeout(wait)
        .runtime(Runtime::Tokio1)
        .post_create(settings)
        .build()
        .map_err(|e| Error::Config(format!("the connection pool: {e}")))
}

/// A pool on the database at `url`, brought to the latest schema first.
pub async fn connect_migrated(url: &str) -> Result<Pool> {
    let pool = connect_reached(url).await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// A pool on the database at `url` once it is reached: a connection is had from the pool
/// (and kept in it), or the error names the address, its password masked
/// ([`Error::Unreachable`]). For a command's or a server's first use of the database, where
/// a wrong address is the likeliest cause.
pub async fn connect_reached(url: &str) -> Result<Pool> {
    let pool = connect(url)?;
    match pool.get().await {
        Ok(_) => Ok(pool),
        Err(source) => Err(Error::Unreachable {
            address: shown_address(url),
            source,
        }),
    }
}

/// Runs one statement on a connection of `pool`; returns how many rows it changed.
pub(crate) async fn execute(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64> {
    Ok(pool.get().await?.execute(sql, params).await?)
}

/// How many rows [`each_row`] fetches at a time.
const ROWS_AT_A_TIME: i32 = 10_000;

/// Hands each row of `sql` to `each`, in order, fetched [`ROWS_AT_A_TIME`] at a time through
/// a portal: a listing of every sale of a province (ten million) is never all in memory.
/// `each` failing stops the listing.
pub async fn each_row<E: From<Error>>(
    pool: &Pool,
    sql: &str,
    each: impl FnMut(&tokio_postgres::Row) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    each_row_by(pool, sql, ROWS_AT_A_TIME, each).await
}

/// As [`each_row`], `at_a_time` rows fetched at a time.
pub async fn each_row_by<E: From<Error>>(
    pool: &Pool,
    sql: &str,
    at_a_time: i32,
    mut each: impl FnMut(&tokio_postgres::Row) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    // Nought would fetch every row at once, and the loop would not end.
    let at_a_time = at_a_time.max(1);
    let mut client = pool.get().await.map_err(Error::from)?;
    let tx = client.transaction().await.map_err(Error::from)?;
    let portal = tx.bind(sql, &[]).await.map_err(Error::from)?;
    loop {
        let rows = tx
            .query_portal(&portal, at_a_time)
            .await
            .map_err(Error::from)?;
        for row in &rows {
            each(row)?;
        }
        if rows.len() < at_a_time as usize {
            return Ok(());
        }
    }
}
