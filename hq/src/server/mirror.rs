//! `hq serve --postgres-mirror URL`: every ledger chunk samod stores in this headquarters'
//! SQLite is also written to PostgreSQL (`fairpos-postgres`'s document store), where any
//! number of `hq postgres project --follow` processes project it. SQLite stays what samod
//! reads from; a write the mirror cannot make is logged, and the catch-up at the next start
//! (every chunk PostgreSQL lacks, and the stalls' names) repairs it. `hq postgres
//! copy-documents` is the same catch-up, by hand.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use fairpos_postgres::documents::{put_chunks, PgStorage};
use fairpos_postgres::Pool;
use fairpos_sync::samod::storage::{Storage, StorageKey};

use fairpos_sync::samod_storage::chunk;

use crate::{connect, Error, Result};

/// samod's storage: SQLite, and a copy of every write in PostgreSQL.
#[derive(Clone)]
pub struct Mirrored<S> {
    pub primary: S,
    pub mirror: Option<PgStorage>,
}

impl<S: Storage + Sync> Storage for Mirrored<S> {
    async fn load(&self, key: StorageKey) -> Option<Vec<u8>> {
        self.primary.load(key).await
    }

    async fn load_range(&self, prefix: StorageKey) -> HashMap<StorageKey, Vec<u8>> {
        self.primary.load_range(prefix).await
    }

    async fn put(&self, key: StorageKey, data: Vec<u8>) {
        match &self.mirror {
            Some(mirror) => {
                self.primary.put(key.clone(), data.clone()).await;
                mirror.put(key, data).await;
            }
            None => self.primary.put(key, data).await,
        }
    }

    async fn delete(&self, key: StorageKey) {
        if let Some(mirror) = &self.mirror {
            mirror.delete(key.clone()).await;
        }
        self.primary.delete(key).await;
    }
}

/// Copies to PostgreSQL every chunk stored in `dir` that it lacks (written while no mirror
/// ran, or while PostgreSQL was unreachable), in batches. Returns how many it copied.
pub async fn catch_up(dir: &Path, pool: &Pool) -> Result<usize> {
    let mirrored: HashSet<String> = {
        let client = pool.get().await.map_err(fairpos_postgres::Error::from)?;
        client
            .query("SELECT key FROM samod_kv", &[])
            .await
            .map_err(fairpos_postgres::Error::from)?
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let dir = dir.to_path_buf();
    let from = dir.clone();
    let missing: Vec<String> = tokio::task::spawn_blocking(move || -> Result<Vec<String>> {
        let conn = connect(&from)?;
        let mut stmt = conn.prepare("SELECT key FROM samod_kv ORDER BY key")?;
        let keys = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut missing = Vec::new();
        for key in keys {
            let key = key?;
            if !mirrored.contains(&key) {
                missing.push(key);
            }
        }
        Ok(missing)
    })
    .await
    .map_err(|e| Error::Other(format!("reading the chunks to mirror: {e}")))??;
    let mut copied = 0;
    for batch in missing.chunks(500) {
        let (keys, from) = (batch.to_vec(), dir.clone());
        let chunks = tokio::task::spawn_blocking(move || -> Result<Vec<(String, Vec<u8>)>> {
            let conn = connect(&from)?;
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                // A chunk compacted away since the keys were read is not copied.
                if let Some(bytes) = chunk(&conn, &key)? {
                    out.push((key, bytes));
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| Error::Other(format!("reading the chunks to mirror: {e}")))??;
        put_chunks(pool, &chunks).await?;
        copied += chunks.len();
    }
    Ok(copied)
}

/// Writes this headquarters' stalls (their names label reports by stall) into PostgreSQL.
/// Returns how many.
pub async fn copy_stalls(dir: &Path, pool: &Pool) -> Result<usize> {
    let from = dir.to_path_buf();
    let stalls = tokio::task::spawn_blocking(move || -> Result<Vec<(String, String, String)>> {
        let conn = connect(&from)?;
        let mut stmt = conn.prepare("SELECT id, name, team FROM stalls")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    })
    .await
    .map_err(|e| Error::Other(format!("reading the stalls: {e}")))??;
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
    Ok(stalls.len())
}
