//! Group commit for [`super::PgStorage`]'s puts and deletes. samod stores each change a save
//! brings as a put of its own, all of a document's at once, and a compaction deletes every
//! chunk its snapshot holds, all at once; each alone was a statement, a commit and a
//! connection of the pool held for its round trip. Now a write starts a writer of its own
//! while fewer than [`WRITERS`] are writing; otherwise it waits, and the next batch a writer
//! takes holds it and the others waiting beside it: one statement (so one transaction, one
//! commit), each write answered once it has committed, as SQLite's storage thread does.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use deadpool_postgres::GenericClient;
use fairpos_sync::samod_storage::lost;
use futures::channel::oneshot;

use super::CHANNEL;
use crate::{Pool, Result};

/// The most writes taken in one statement.
const BATCH: usize = 256;

/// The most bytes a batch takes once it holds a write (a larger put is written alone).
const BATCH_BYTES: usize = 16 << 20;

/// The most batches written at once, each on a connection of the pool (a quarter of it):
/// enough that the puts of a storm of first syncs (one snapshot a till) do not queue behind
/// one another (README, "Group commit for samod's PostgreSQL storage").
const WRITERS: usize = 4;

/// How long a batch the database refuses is tried again before the process stops.
const PATIENCE: Duration = Duration::from_secs(6);

/// One statement storing chunks (`$1` keys, `$2` bytes) and deleting chunks (`$5` keys, each
/// with its announcement in `$6`; no key among both), then announcing on `$3` each of `$4`
/// (the puts' documents) and the deleted chunks' documents, each once. One transaction: the
/// announcements are heard once the writes can be read, and not at all if they are not made;
/// a delete that deletes nothing announces nothing.
const WRITE: &str = "WITH put AS (
         INSERT INTO samod_kv(key, bytes) SELECT * FROM unnest($1::text[], $2::bytea[])
         ON CONFLICT(key) DO UPDATE SET bytes = excluded.bytes),
     gone AS (DELETE FROM samod_kv WHERE key = ANY($5::text[]) RETURNING key)
     SELECT pg_notify($3, announced) FROM (
         SELECT unnest($4::text[]) AS announced
         UNION
         SELECT d.announced FROM unnest($5::text[], $6::text[]) AS d(key, announced)
             JOIN gone USING (key)) AS news";

/// What a write does to its key: stores these bytes, or deletes what is stored.
enum Change {
    Put(Vec<u8>),
    Delete,
}

/// A write waiting for its batch.
struct Write {
    key: String,
    change: Change,
    /// What its document's announcement says ([`super::PgStorage`]'s `announced`).
    announced: String,
    /// Told once the write is committed.
    done: oneshot::Sender<()>,
}

impl Write {
    fn bytes(&self) -> usize {
        match &self.change {
            Change::Put(bytes) => bytes.len(),
            Change::Delete => 0,
        }
    }
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Write>,
    /// Batches being written (tasks running [`write_batches`]).
    writers: usize,
}

/// The writes of one storage (and of its clones) waiting to be made.
#[derive(Clone)]
pub(super) struct Writes {
    pool: Pool,
    queue: Arc<Mutex<Queue>>,
}

impl Writes {
    pub(super) fn new(pool: Pool) -> Writes {
        Writes {
            pool,
            queue: Arc::default(),
        }
    }

    /// Stores `bytes` under `key` with the writes waiting beside it; returns once committed.
    /// A batch of puts the database keeps refusing stops the process ([`lost`]), as a put
    /// alone did.
    pub(super) async fn put(&self, key: String, bytes: Vec<u8>, announced: String) {
        self.write(key, Change::Put(bytes), announced).await;
    }

    /// Deletes what is stored under `key` with the writes waiting beside it; returns once
    /// committed, or once a batch of deletes alone was refused for a few seconds (the chunk
    /// stays, superseded: harmless, as samod says of a delete that fails).
    pub(super) async fn delete(&self, key: String, announced: String) {
        self.write(key, Change::Delete, announced).await;
    }

    async fn write(&self, key: String, change: Change, announced: String) {
        let (done, committed) = oneshot::channel();
        let write = Write {
            key,
            change,
            announced,
            done,
        };
        let start_writer = {
            let mut queue = lock(&self.queue);
            queue.waiting.push_back(write);
            let idle = queue.writers < WRITERS;
            queue.writers += usize::from(idle);
            idle
        };
        if start_writer {
            // A task of its own: a batch is written whatever becomes of the write that
            // started it.
            tokio::spawn(write_batches(self.pool.clone(), self.queue.clone()));
        }
        if committed.await.is_err() {
            // Its writer ended without answering: only a panic does that.
            lost("(PostgreSQL) the writer of a batch of writes stopped");
        }
    }
}

fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A writer's place among the [`WRITERS`]: given back when it stops, or if its task is
/// dropped unfinished (a panic, the runtime shut down).
struct Place {
    queue: Arc<Mutex<Queue>>,
    given_back: bool,
}

impl Drop for Place {
    fn drop(&mut self) {
        if !self.given_back {
            lock(&self.queue).writers -= 1;
        }
    }
}

/// Writes what waits, a batch at a time, until nothing does. Whether to stop is decided
/// under the queue's lock, where a write decides whether to start a writer, so no write is
/// left waiting with no writer.
async fn write_batches(pool: Pool, queue: Arc<Mutex<Queue>>) {
    let mut place = Place {
        queue,
        given_back: false,
    };
    loop {
        let batch = {
            let mut queue = lock(&place.queue);
            if queue.waiting.is_empty() {
                queue.writers -= 1;
                place.given_back = true;
                return;
            }
            take_batch(&mut queue.waiting)
        };
        write_with_patience(&pool, &batch).await;
        for write in batch {
            let _ = write.done.send(());
        }
    }
}

/// The first writes waiting, up to [`BATCH`] of them and [`BATCH_BYTES`] (at least one).
fn take_batch(waiting: &mut VecDeque<Write>) -> Vec<Write> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while let Some(next) = waiting.front() {
        let full =
            batch.len() == BATCH || (!batch.is_empty() && bytes + next.bytes() > BATCH_BYTES);
        if full {
            break;
        }
        bytes += next.bytes();
        batch.extend(waiting.pop_front());
    }
    batch
}

/// What a batch comes to, key by key: the last write of each key, as if made one after
/// another in the order they came.
struct Net<'b> {
    puts: BTreeMap<&'b str, &'b [u8]>,
    /// Each put's announcement, once.
    announced: BTreeSet<&'b str>,
    /// Keys deleted, with their announcements.
    deletes: BTreeMap<&'b str, &'b str>,
}

fn net(batch: &[Write]) -> Net<'_> {
    let mut last: BTreeMap<&str, &Write> = BTreeMap::new();
    for write in batch {
        last.insert(&write.key, write);
    }
    let mut net = Net {
        puts: BTreeMap::new(),
        announced: BTreeSet::new(),
        deletes: BTreeMap::new(),
    };
    for (key, write) in last {
        match &write.change {
            Change::Put(bytes) => {
                net.puts.insert(key, bytes);
                net.announced.insert(&write.announced);
            }
            Change::Delete => {
                net.deletes.insert(key, &write.announced);
            }
        }
    }
    net
}

/// Makes a batch's writes, tried again (waits doubling from 0.1 s) for about [`PATIENCE`]
/// when the database does not take them (a server restarting, a connection lost); then, if
/// the batch stores anything, the process stops: samod would otherwise hold in memory
/// changes no database holds, and never ask the tills for them again. A batch of deletes
/// alone is given up (logged): what it would delete stays, superseded.
async fn write_with_patience(pool: &Pool, batch: &[Write]) {
    let net = net(batch);
    let mut wait = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    loop {
        let outcome = async {
            let client = pool.get().await?;
            write(&client, &net).await
        };
        match outcome.await {
            Ok(()) => return,
            Err(e) => eprintln!("samod storage (PostgreSQL): {e}"),
        }
        if waited >= PATIENCE {
            let first = batch.first().map(|w| w.key.as_str()).unwrap_or_default();
            let why = format!(
                "(PostgreSQL) writing {first} and {} more failed for {} s",
                batch.len() - 1,
                waited.as_secs()
            );
            if net.puts.is_empty() {
                eprintln!("samod storage: {why}; the chunks stay stored");
                return;
            }
            lost(&why);
        }
        tokio::time::sleep(wait).await;
        waited += wait;
        wait *= 2;
    }
}

/// Makes `net`'s writes in one statement, the puts in key order (so two batches putting the
/// same chunks, as two processes storing the same change do, wait for each other). Batches
/// that put and delete the same keys the other way round can still deadlock; PostgreSQL then
/// fails one statement, which is tried again.
async fn write(client: &impl GenericClient, net: &Net<'_>) -> Result<()> {
    let keys: Vec<&str> = net.puts.keys().copied().collect();
    let bytes: Vec<&[u8]> = net.puts.values().copied().collect();
    let announced: Vec<&str> = net.announced.iter().copied().collect();
    let deleted: Vec<&str> = net.deletes.keys().copied().collect();
    let deleted_announced: Vec<&str> = net.deletes.values().copied().collect();
    let statement = client.prepare_cached(WRITE).await?;
    client
        .query(
            &statement,
            &[
                &keys,
                &bytes,
                &CHANNEL,
                &announced,
                &deleted,
                &deleted_announced,
            ],
        )
        .await?;
    Ok(())
}

/// Stores `chunks` (by key), deletes `deletes` (keys with their announcements; none among
/// `chunks`), and makes each of `announced` on [`CHANNEL`] (and a deleted key's, if it was
/// stored), in one statement.
pub(super) async fn store(
    client: &impl GenericClient,
    chunks: BTreeMap<&str, &[u8]>,
    announced: BTreeSet<&str>,
    deletes: BTreeMap<&str, &str>,
) -> Result<()> {
    let net = Net {
        puts: chunks,
        announced,
        deletes,
    };
    write(client, &net).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(key: &str, change: Change) -> Write {
        Write {
            key: key.to_string(),
            change,
            announced: format!("doc of {key}"),
            done: oneshot::channel().0,
        }
    }

    fn put(key: &str, size: usize) -> Write {
        write(key, Change::Put(vec![0; size]))
    }

    fn keys(batch: &[Write]) -> Vec<&str> {
        batch.iter().map(|w| w.key.as_str()).collect()
    }

    #[test]
    fn a_batch_takes_the_first_writes_up_to_its_count_and_bytes_and_at_least_one() {
        let mut waiting: VecDeque<Write> = (0..BATCH + 3).map(|i| put(&i.to_string(), 1)).collect();
        let batch = take_batch(&mut waiting);
        assert_eq!(batch.len(), BATCH);
        assert_eq!(batch[0].key, "0");
        assert_eq!(waiting.len(), 3);
        assert_eq!(keys(&take_batch(&mut waiting)), ["256", "257", "258"]);
        assert!(take_batch(&mut waiting).is_empty());

        let half = BATCH_BYTES / 2;
        let mut waiting: VecDeque<Write> = [
            put("a", half),
            put("b", half),
            write("deleted", Change::Delete),
            put("c", 1),
            put("huge", 3 * BATCH_BYTES),
            put("d", 1),
        ]
        .into();
        assert_eq!(keys(&take_batch(&mut waiting)), ["a", "b", "deleted"]);
        assert_eq!(keys(&take_batch(&mut waiting)), ["c"]);
        assert_eq!(keys(&take_batch(&mut waiting)), ["huge"]);
        assert_eq!(keys(&take_batch(&mut waiting)), ["d"]);
    }

    #[test]
    fn a_batch_comes_to_the_last_write_of_each_key() {
        let batch = [
            write("a", Change::Put(vec![1])),
            write("b", Change::Delete),
            write("a", Change::Delete),
            write("b", Change::Put(vec![2])),
            write("c", Change::Put(vec![3])),
            write("c", Change::Put(vec![4])),
            write("d", Change::Delete),
        ];
        let net = net(&batch);
        let puts: Vec<(&str, &[u8])> = net.puts.into_iter().collect();
        assert_eq!(puts, [("b", &[2][..]), ("c", &[4][..])]);
        assert_eq!(
            net.announced.into_iter().collect::<Vec<_>>(),
            ["doc of b", "doc of c"]
        );
        let deletes: Vec<(&str, &str)> = net.deletes.into_iter().collect();
        assert_eq!(deletes, [("a", "doc of a"), ("d", "doc of d")]);
    }
}
