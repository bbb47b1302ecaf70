//! `hq serve --postgres-mirror URL`: every ledger chunk samod stores in this headquarters'
//! SQLite is also written to PostgreSQL (`fairpos-postgres`'s document store), where any
//! number of `hq postgres project --follow` processes project it. SQLite stays what samod
//! reads from. A put the mirror cannot make is tried again for a few seconds, then stops the
//! process, as a put SQLite refuses does; a delete it cannot make is logged and given up. The
//! catch-up at the next start (every chunk PostgreSQL lacks, and the stalls' names) repairs
//! what the mirror lacks. `hq postgres copy-documents` is the same catch-up, by hand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fairpos_postgres::documents::{put_chunks, stored_keys, PgStorage};
use fairpos_postgres::report::put_stalls;
use fairpos_postgres::Pool;
use fairpos_sync::samod::storage::{Storage, StorageKey};
use fairpos_sync::samod_storage::chunk;
use rusqlite::Connection;

use crate::{Error, Result};

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

    // Both at once: the sync socket that stored the chunk waits for the slower, not the sum.
    async fn put(&self, key: StorageKey, data: Vec<u8>) {
        match &self.mirror {
            Some(mirror) => {
                let copy = (key.clone(), data.clone());
                tokio::join!(self.primary.put(key, data), mirror.put(copy.0, copy.1));
            }
            None => self.primary.put(key, data).await,
        }
    }

    async fn delete(&self, key: StorageKey) {
        match &self.mirror {
            Some(mirror) => {
                tokio::join!(self.primary.delete(key.clone()), mirror.delete(key));
            }
            None => self.primary.delete(key).await,
        }
    }
}

/// Copies to PostgreSQL every chunk stored in headquarters' database `db` that it lacks
/// (written while no mirror ran, or while PostgreSQL was unreachable), in batches, and the
/// stalls (their names label reports by stall), telling `progress(taken, of)` after each
/// batch. Returns how many chunks and stalls it copied.
pub async fn copy_all(
    db: &Arc<Mutex<Connection>>,
    pool: &Pool,
    mut progress: impl FnMut(usize, usize),
) -> Result<(usize, usize)> {
    let mirrored = stored_keys(pool).await?;
    let (missing, stalls) = blocking(db, move |conn| {
        let mut stmt = conn.prepare("SELECT key FROM samod_kv ORDER BY key")?;
        let mut missing = Vec::new();
        for key in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let key = key?;
            if !mirrored.contains(&key) {
                missing.push(key);
            }
        }
        Ok((missing, stalls(conn)?))
    })
    .await?;
    // Chunks copied, and chunks taken (one compacted away since is taken, not copied).
    let (mut copied, mut taken) = (0, 0);
    for batch in missing.chunks(500) {
        let keys = batch.to_vec();
        let chunks = blocking(db, move |conn| {
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                // A chunk compacted away since the keys were read is not copied.
                if let Some(bytes) = chunk(conn, &key)? {
                    out.push((key, bytes));
                }
            }
            Ok(out)
        })
        .await?;
        put_chunks(pool, &chunks).await?;
        copied += chunks.len();
        taken += batch.len();
        progress(taken, missing.len());
    }
    put_stalls(pool, &stalls).await?;
    Ok((copied, stalls.len()))
}

/// The stalls of headquarters' database `conn`, `(id, name, team)`, as
/// [`put_stalls`] stores them.
pub fn stalls(conn: &Connection) -> Result<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare("SELECT id, name, team FROM stalls")?;
    let stalls = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(stalls)
}

/// Runs `f` on headquarters' connection on a blocking thread.
async fn blocking<T: Send + 'static>(
    db: &Arc<Mutex<Connection>>,
    f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || f(&*crate::state::lock(&db)?))
        .await
        .map_err(|e| Error::Other(format!("reading the chunks to mirror: {e}")))?
}
