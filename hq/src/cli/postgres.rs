//! `fairpos hq postgres …`: headquarters' ledgers, projection and reports in PostgreSQL
//! (`fairpos-postgres`), beside the SQLite headquarters `hq serve` still runs on. Any number
//! of `project --follow` processes may run at once, on any machines: each stored ledger is
//! projected once, and a process killed at any instant leaves nothing half-done.

use std::path::Path;

use fairpos_postgres::documents::{put_chunks, Listener};
use fairpos_postgres::follow::{catch_up, follow, Pass};
use fairpos_postgres::{connect, migrate, Pool};
use fairpos_projection::report::{self, Dimension};
use fairpos_sync::samod::storage::StorageKey;

use super::args::{PostgresCommand, ReportArgs};
use super::kit::{output_format, write_output};
use crate::{Error, Hq, Result};

pub fn run(dir: &Path, command: PostgresCommand) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("the async runtime: {e}")))?;
    runtime.block_on(async {
        match command {
            PostgresCommand::Migrate(db) => {
                let pool = connect(&db.database)?;
                let applied = migrate(&pool).await?;
                let version = fairpos_postgres::schema_version(&pool).await?;
                if applied.is_empty() {
                    println!("the database is up to date (schema {version})");
                } else {
                    let shown: Vec<String> = applied.iter().map(i32::to_string).collect();
                    println!("applied migrations {} (schema {version})", shown.join(", "));
                }
                Ok(())
            }
            PostgresCommand::CopyDocuments(db) => copy_documents(dir, &db.database).await,
            PostgresCommand::Project { db, follow } => project(&db.database, follow).await,
            PostgresCommand::Report { db, report } => print_report(&db.database, &report).await,
        }
    })
}

/// A pool on a database brought to the latest schema.
async fn migrated(url: &str) -> Result<Pool> {
    let pool = connect(url)?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Copies every stored chunk of this headquarters' documents, and its stalls' names, into
/// the database (what is there already is written again, unchanged).
async fn copy_documents(dir: &Path, url: &str) -> Result<()> {
    let (chunks, stalls) = {
        let hq = Hq::open(dir)?;
        let mut stmt = hq
            .conn
            .prepare("SELECT key, bytes FROM samod_kv ORDER BY key")?;
        let chunks: Vec<(String, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = hq.conn.prepare("SELECT id, name, team FROM stalls")?;
        let stalls: Vec<(String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        (chunks, stalls)
    };
    let pool = migrated(url).await?;
    let mut documents = std::collections::BTreeSet::new();
    for (key, _) in &chunks {
        StorageKey::from_parts(key.split('/')).map_err(|_| {
            Error::Integrity(format!("a stored chunk's key {key:?} is not samod's"))
        })?;
        documents.insert(key.split('/').next().unwrap_or_default());
    }
    put_chunks(&pool, &chunks).await?;
    let client = pool.get().await.map_err(fairpos_postgres::Error::from)?;
    for (id, name, team) in &stalls {
        client
            .execute(
                "INSERT INTO stalls(id, name, team) VALUES ($1, $2, $3)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, team = excluded.team",
                &[&id.as_str(), &name.as_str(), &team.as_str()],
            )
            .await
            .map_err(fairpos_postgres::Error::from)?;
    }
    println!(
        "copied {} chunks of {} documents and {} stalls",
        chunks.len(),
        documents.len(),
        stalls.len()
    );
    Ok(())
}

fn say(pass: &Pass) {
    println!(
        "projected {} documents: {} new records",
        pass.documents, pass.new_records
    );
    for (doc, why) in &pass.refused {
        eprintln!("refused {doc}: {why}");
    }
}

/// Projects every ledger stored; with `follow`, then each one any process stores, until the
/// connection ends or the process is stopped.
async fn project(url: &str, follow_store: bool) -> Result<()> {
    let pool = migrated(url).await?;
    // Listening before catching up: a ledger stored in between is heard, not missed.
    let listener = if follow_store {
        Some(Listener::start(url).await?)
    } else {
        None
    };
    say(&catch_up(&pool).await?);
    if let Some(mut listener) = listener {
        follow(&pool, &mut listener, say).await?;
        return Err(Error::Other(
            "the database connection that hears stored ledgers ended".into(),
        ));
    }
    Ok(())
}

async fn print_report(url: &str, a: &ReportArgs) -> Result<()> {
    let by: Dimension = a.by.parse()?;
    let format = output_format(&a.format, a.out.as_deref())?;
    let pool = connect(url)?;
    let latest = fairpos_postgres::MIGRATIONS.len() as i32;
    if fairpos_postgres::schema_version(&pool).await? < latest {
        return Err(Error::input(
            "the database does not hold fairpos's tables yet: run `fairpos hq postgres migrate`",
        ));
    }
    let built = fairpos_postgres::report::build(&pool, by).await?;
    let bytes = report::format::render(&built, format)?;
    write_output(a.out.as_deref().unwrap_or(Path::new("-")), &bytes)
}
