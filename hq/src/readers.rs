//! Connections that only read, for the dashboard, its API and the big screen: reports and
//! reconciliation run on them on a blocking thread, so an organizer's page neither waits for
//! the connection the sync path writes through nor holds up the async workers. SQLite in WAL
//! mode lets them read the last committed state while the writer goes on.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;

use crate::{connect, Error, Result};

/// Idle read connections kept for the next request; more are opened when busy.
const KEPT: usize = 4;

pub struct Readers {
    dir: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub fn new(dir: PathBuf) -> Readers {
        Readers {
            dir,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a read-only connection on a blocking thread.
    pub async fn read<T: Send + 'static>(
        self: &std::sync::Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let readers = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.take()?;
            let result = f(&conn);
            readers.give_back(conn);
            result
        })
        .await
        .map_err(|e| Error::Other(format!("a read task: {e}")))?
    }

    fn take(&self) -> Result<Connection> {
        if let Some(conn) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(conn);
        }
        let conn = connect(&self.dir)?;
        conn.execute_batch("PRAGMA query_only = ON")?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < KEPT {
                idle.push(conn);
            }
        }
    }
}
