//! Group commit for [`super::PgStorage`]'s puts. samod stores each change a save brings as a
//! put of its own, all of a document's at once; each put alone was a statement, a commit and
//! a connection of the pool held for its round trip. Now the puts that arrive while a batch
//! is being written wait, and are written together by the next one: one statement (so one
//! transaction, one commit), each put answered once it has committed, as SQLite's storage
//! thread does. At most [`WRITERS`] batches are written at once.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use deadpool_postgres::GenericClient;
use fairpos_sync::samod_storage::lost;
use futures::channel::oneshot;

use super::CHANNEL;
use crate::{Pool, Result};

/// The most puts written in one statement.
const BATCH: usize = 256;

/// The most bytes a batch takes once it holds a put (a larger put is written alone).
const BATCH_BYTES: usize = 16 << 20;

/// The most batches written at once, each on a connection of the pool (a quarter of it):
/// enough that the puts of a storm of first syncs (one snapshot a till) do not queue behind
/// one another (README, "Group commit for samod's PostgreSQL storage").
const WRITERS: usize = 4;

/// How long a batch the database refuses is tried again before the process stops.
const PUT_PATIENCE: Duration = Duration::from_secs(6);

/// One statement storing chunks (`$1` keys, `$2` bytes, no key twice) and announcing
/// `$4` (each document's announcement once) on `$3`: one transaction, so the
/// announcements are heard once the chunks can be read, and not at all if they are not
/// stored.
const STORE: &str = "WITH put AS (
         INSERT INTO samod_kv(key, bytes) SELECT * FROM unnest($1::text[], $2::bytea[])
         ON CONFLICT(key) DO UPDATE SET bytes = excluded.bytes)
     SELECT pg_notify($3, announced) FROM unnest($4::text[]) AS announced";

/// A put waiting for its batch.
struct Put {
    key: String,
    bytes: Vec<u8>,
    /// What its document's announcement says ([`super::PgStorage`]'s `announced`).
    announced: String,
    /// Told once the put is committed.
    stored: oneshot::Sender<()>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Put>,
    /// Batches being written (tasks running [`write_batches`]).
    writers: usize,
}

/// The puts of one storage (and of its clones) waiting to be written.
#[derive(Clone, Default)]
pub(super) struct Puts {
    queue: Arc<Mutex<Queue>>,
}

impl Puts {
    /// Stores `bytes` under `key` with the puts waiting beside it; returns once committed.
    /// A batch the database keeps refusing stops the process ([`lost`]), as a put alone did.
    pub(super) async fn put(&self, pool: &Pool, key: String, bytes: Vec<u8>, announced: String) {
        let (stored, committed) = oneshot::channel();
        let put = Put {
            key,
            bytes,
            announced,
            stored,
        };
        let start_writer = {
            let mut queue = lock(&self.queue);
            queue.waiting.push_back(put);
            let idle = queue.writers < WRITERS;
            queue.writers += usize::from(idle);
            idle
        };
        if start_writer {
            // A task of its own: a batch is written whatever becomes of the put that
            // started it.
            tokio::spawn(write_batches(pool.clone(), self.queue.clone()));
        }
        if committed.await.is_err() {
            // Its writer ended without answering: only a panic does that.
            lost("(PostgreSQL) the writer of a batch of puts stopped");
        }
    }
}

fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes what waits, a batch at a time, until nothing does. Whether to stop is decided
/// under the queue's lock, where a put decides whether to start a writer, so no put is left
/// waiting with no writer.
async fn write_batches(pool: Pool, queue: Arc<Mutex<Queue>>) {
    loop {
        let batch = {
            let mut queue = lock(&queue);
            if queue.waiting.is_empty() {
                queue.writers -= 1;
                return;
            }
            take_batch(&mut queue.waiting)
        };
        store_with_patience(&pool, &batch).await;
        for put in batch {
            let _ = put.stored.send(());
        }
    }
}

/// The first puts waiting, up to [`BATCH`] of them and [`BATCH_BYTES`] (at least one).
fn take_batch(waiting: &mut VecDeque<Put>) -> Vec<Put> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while let Some(next) = waiting.front() {
        let full =
            batch.len() == BATCH || (!batch.is_empty() && bytes + next.bytes.len() > BATCH_BYTES);
        if full {
            break;
        }
        bytes += next.bytes.len();
        batch.extend(waiting.pop_front());
    }
    batch
}

/// Stores a batch, tried again (waits doubling from 0.1 s) for about [`PUT_PATIENCE`] when
/// the database does not take it (a server restarting, a connection lost); then the process
/// stops: samod would otherwise hold in memory changes no database holds, and never ask the
/// tills for them again.
async fn store_with_patience(pool: &Pool, batch: &[Put]) {
    let chunks: BTreeMap<&str, &[u8]> = batch
        .iter()
        .map(|p| (p.key.as_str(), p.bytes.as_slice()))
        .collect();
    let announced: BTreeSet<&str> = batch.iter().map(|p| p.announced.as_str()).collect();
    let mut wait = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    loop {
        let outcome = async {
            let client = pool.get().await?;
            store(&client, &chunks, &announced).await
        };
        match outcome.await {
            Ok(()) => return,
            Err(e) => eprintln!("samod storage (PostgreSQL): {e}"),
        }
        if waited >= PUT_PATIENCE {
            let first = batch.first().map(|p| p.key.as_str()).unwrap_or_default();
            lost(&format!(
                "(PostgreSQL) storing {first} and {} more failed for {} s",
                batch.len() - 1,
                waited.as_secs()
            ));
        }
        tokio::time::sleep(wait).await;
        waited += wait;
        wait *= 2;
    }
}

/// Stores `chunks` (by key) and makes each of `announced` on [`CHANNEL`], in one statement.
/// The rows are written in key order, so two batches putting some of the same keys (the
/// same chunk stored through two processes) wait for each other rather than deadlock.
pub(super) async fn store(
    client: &impl GenericClient,
    chunks: &BTreeMap<&str, &[u8]>,
    announced: &BTreeSet<&str>,
) -> Result<()> {
    let keys: Vec<&str> = chunks.keys().copied().collect();
    let bytes: Vec<&[u8]> = chunks.values().copied().collect();
    let announced: Vec<&str> = announced.iter().copied().collect();
    let statement = client.prepare_cached(STORE).await?;
    client
        .query(&statement, &[&keys, &bytes, &CHANNEL, &announced])
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, size: usize) -> Put {
        Put {
            key: key.to_string(),
            bytes: vec![0; size],
            announced: String::new(),
            stored: oneshot::channel().0,
        }
    }

    fn keys(batch: &[Put]) -> Vec<&str> {
        batch.iter().map(|p| p.key.as_str()).collect()
    }

    #[test]
    fn a_batch_takes_the_first_puts_up_to_its_count_and_bytes_and_at_least_one() {
        let mut waiting: VecDeque<Put> = (0..BATCH + 3).map(|i| put(&i.to_string(), 1)).collect();
        let batch = take_batch(&mut waiting);
        assert_eq!(batch.len(), BATCH);
        assert_eq!(batch[0].key, "0");
        assert_eq!(waiting.len(), 3);
        assert_eq!(keys(&take_batch(&mut waiting)), ["256", "257", "258"]);
        assert!(take_batch(&mut waiting).is_empty());

        let half = BATCH_BYTES / 2;
        let mut waiting: VecDeque<Put> = [
            put("a", half),
            put("b", half),
            put("c", 1),
            put("huge", 3 * BATCH_BYTES),
            put("d", 1),
        ]
        .into();
        assert_eq!(keys(&take_batch(&mut waiting)), ["a", "b"]);
        assert_eq!(keys(&take_batch(&mut waiting)), ["c"]);
        assert_eq!(keys(&take_batch(&mut waiting)), ["huge"]);
        assert_eq!(keys(&take_batch(&mut waiting)), ["d"]);
    }
}
