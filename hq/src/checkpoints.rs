//! WAL checkpoints on a thread of their own, off the writers' path.
//!
//! SQLite copies its write-ahead log into the database (a checkpoint) inside the commit that
//! takes the log past a thousand pages, by default: the projection's commit or samod's
//! storage then waits for it. A cold projection of a whole fair spent a fifth of its time
//! copying the log it had just written. While `hq serve` runs on SQLite, its writing
//! connections hand checkpoints over ([`hand_over`]) to a [`Checkpointer`]:
//! one connection that runs a passive checkpoint every [`PERIOD`], which never waits for
//! readers or writers. What the log holds is durable once committed either way
//! (`synchronous = FULL`); a checkpoint only moves it into the database file.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::{connect, Error, Result};

/// How often the log is copied into the database while the server runs.
pub const PERIOD: Duration = Duration::from_millis(200);

/// The checkpoint thread of one database; stopped (after a last checkpoint) when dropped.
pub struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What one passive checkpoint found: frames in the log, and how many of them are now in
/// the database; or that another connection was checkpointing (a command run beside the
/// server), which leaves this one with nothing to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub another_running: bool,
    pub log_frames: i64,
    pub copied_frames: i64,
}

impl Checkpointer {
    /// Starts checkpointing the headquarters database in `dir`. Its connection is opened
    /// here, so a database that cannot be opened is an error now rather than a log that
    /// grows unchecked later.
    pub fn start(dir: &Path) -> Result<Checkpointer> {
        Checkpointer::every(dir, PERIOD)
    }

    /// As [`Checkpointer::start`], a checkpoint every `period` (and at each [`nudge`]).
    ///
    /// [`nudge`]: Checkpointer::nudge
    fn every(dir: &Path, period: Duration) -> Result<Checkpointer> {
        let conn = connect(dir)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wal-checkpoints".into())
            .spawn(move || {
                let mut last_error = String::new();
                loop {
                    std::thread::park_timeout(period);
                    let stopped = stopping.load(Ordering::Acquire);
                    match checkpoint(&conn) {
                        Ok(_) => last_error.clear(),
                        // Logged when it changes: a database busy for a minute is one line.
                        Err(e) if e.to_string() != last_error => {
                            last_error = e.to_string();
                            eprintln!("WAL checkpoint: {last_error}");
                        }
                        Err(_) => {}
                    }
                    if stopped {
                        return;
                    }
                }
            })
            .map_err(|e| Error::Other(format!("the WAL checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }

    /// Checkpoints now rather than at the end of the period.
    pub fn nudge(&self) {
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
    }
}

/// Leaves `conn`'s checkpoints to someone else (a [`Checkpointer`] on its database): its
/// commits no longer copy the log into the database.
pub fn hand_over(conn: &Connection) -> Result<()> {
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0")?;
    Ok(())
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.nudge();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One passive checkpoint on `conn`: copies what the log holds that no reader still needs,
/// without waiting for anyone.
pub fn checkpoint(conn: &Connection) -> Result<Checkpoint> {
    let (busy, log_frames, copied_frames): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(Checkpoint {
        another_running: busy != 0,
        log_frames,
        copied_frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    /// A writer that hands its checkpoints over leaves its pages in the log; the checkpointer
    /// moves them into the database file, and stops when dropped.
    #[test]
    fn a_writer_that_hands_checkpoints_over_has_its_log_copied_by_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(crate::HQ_DB);
        let writer = connect(dir.path()).unwrap();
        // Checkpoints only when nudged, so that the commit below is seen before any.
        let checkpointer = Checkpointer::every(dir.path(), Duration::from_secs(3600)).unwrap();
        hand_over(&writer).unwrap();
        let before = file_len(&db);
        writer
            .execute_batch(
                "CREATE TABLE t(x BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
                 INSERT INTO t SELECT randomblob(2000) FROM n;",
            )
            .unwrap();
        // About 2 500 pages committed (10 MB); with autocheckpoint on (past 1 000 pages), the
        // commit would have copied them into the database itself.
        assert!(
            file_len(&db) < before + 1_000_000,
            "the commit copied its own log"
        );
        checkpointer.nudge();
        let waited = std::time::Instant::now();
        while file_len(&db) < before + 9_000_000 {
            assert!(
                waited.elapsed() < Duration::from_secs(20),
                "the checkpointer never copied the log"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(checkpointer);
        // Nothing left to copy: the last checkpoint was passive and no one read meanwhile.
        let left = checkpoint(&writer).unwrap();
        assert!(!left.another_running);
        assert_eq!(left.log_frames, left.copied_frames);
        let n: i64 = writer
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 5000);
    }

    /// A log grown past the limit by one big commit is cut back to it when it starts over.
    #[test]
    fn a_log_grown_past_the_limit_is_cut_back_once_copied() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join(format!("{}-wal", crate::HQ_DB));
        let writer = connect(dir.path()).unwrap();
        hand_over(&writer).unwrap();
        let blobs = crate::instance::WAL_SIZE_LIMIT / 4000 + 2_000;
        writer
            .execute_batch(&format!(
                "CREATE TABLE t(x BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {blobs})
                 INSERT INTO t SELECT randomblob(4000) FROM n;"
            ))
            .unwrap();
        let grown = file_len(&wal);
        assert!(grown > crate::instance::WAL_SIZE_LIMIT as u64, "{grown}");
        let copied = checkpoint(&writer).unwrap();
        assert_eq!(copied.log_frames, copied.copied_frames);
        // The next commit starts the log over, and cuts the file back.
        writer
            .execute_batch("INSERT INTO t VALUES (x'00')")
            .unwrap();
        let cut = file_len(&wal);
        assert!(cut <= crate::instance::WAL_SIZE_LIMIT as u64, "{cut}");
    }
}
