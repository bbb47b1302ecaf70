//! The till's SQLite database: identity, catalog, the ledger documents and their projection.
//!
//! Every write goes through [`Store::write`]: one `BEGIN IMMEDIATE` transaction in which each
//! ledger record is appended to its Automerge document (the change stored in
//! `ledger_changes`) and projected into the SQL tables. The database runs in WAL mode with
//! `synchronous=FULL`, so when `write` returns the whole of it is on disk; if the process dies
//! before, none of it is.
//!
//! A sale goes faster ([`Store::write_sale`]): its transaction holds one row, its record (the
//! whole sale and its number) in the ledger journal (`ledger_journal`), written as a plain
//! JSON row would be. That row is what makes the sale durable. [`Store::catch_up`] later
//! appends the journaled records to their documents, projects them and deletes the rows, in
//! one transaction of its own, when the till is idle (`Till::tidy`), before any other write
//! (so the ledger keeps records in their order), and before any read of the tables or the
//! ledger ([`Store::reader`]). If the machine dies in between, [`Store::open`] catches up
//! from the journal. The sale's number comes from the till's state in memory (the tables plus
//! the journal), which only this process changes (the lock below), so no second row is needed
//! to keep the numbers contiguous. WAL checkpoints, too, run off the sale's path
//! ([`Store::checkpoint_if_due`]).
//!
//! One process at a time owns a data directory (`till.lock`), which is what lets the store
//! keep the till's state ([`state::TillState`]) in memory between sales.

mod pins;
pub(crate) use pins::check_pin;
pub use pins::PIN_SHORTEST;
pub mod schema;
pub mod state;
pub mod verify;
mod writer;

pub use self::writer::Writer;

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use fairpos_sync::{storage, ActorId, LedgerDoc, LedgerId, Record};
use rusqlite::{params, Connection, TransactionBehavior};

use fairpos_domain::fair::Fair;
use fairpos_domain::{demo, DeviceCode};
use fairpos_projection::apply as projection;
use fairpos_projection::schema::{clear_projection, meta, not_a_database};

use self::state::TillState;
use crate::error::{Error, Result};

/// File name of the till database inside the data directory.
pub const DB_FILE: &str = "till.db";
/// Lock file that gives one process the data directory.
pub const LOCK_FILE: &str = "till.lock";
/// How long opening waits for another process to let go of the data directory.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// Transactions between WAL checkpoints (each sale makes two).
const CHECKPOINT_EVERY: u32 = 200;

/// Who this till is. Set once by `init`.
#[derive(Clone, Debug)]
pub struct Identity {
    pub device: DeviceCode,
    pub stall: String,
    pub fair: Fair,
    pub actor: ActorId,
}

/// What `init` needs to make a till.
pub struct InitOptions<'a> {
    pub fair_toml: &'a str,
    pub device: &'a str,
    pub stall: &'a str,
    pub lead_pin: &'a str,
    /// The Automerge actor the till writes its ledgers with (a new one when `None`).
    pub actor: Option<ActorId>,
}

pub struct Store {
    conn: Connection,
    identity: Identity,
    state: TillState,
    /// Ledger documents this process has loaded, kept so that a sale does not reload its day.
    ledgers: HashMap<LedgerId, LedgerDoc>,
    /// Records waiting in the journal: durable, not yet in their document or the tables.
    journaled: usize,
    /// Transactions committed since the last WAL checkpoint.
    since_checkpoint: u32,
    _lock: File,
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    fairpos_projection::schema::keep_private(path);
    conn.busy_timeout(Duration::from_secs(10))?;
    // The till runs a few dozen distinct statements; the default cache of 16 would keep
    // re-preparing them.
    conn.set_prepared_statement_cache_capacity(128);
    // The first statement reads the file: one that is not a database is named.
    let mode = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0));
    let mode = mode.map_err(|e| match not_a_database(&e, path) {
        Some(named) => Error::Other(named),
        None => e.into(),
    })?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Other(format!(
            "{}: the database cannot use write-ahead logging (journal mode {mode})",
            path.display()
        )));
    }
    // Checkpoints are run by `Store::checkpoint_if_due`, never inside a sale's commit (and
    // by SQLite itself when the last connection closes).
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;",
    )?;
    Ok(conn)
}

/// Takes the data directory for this process, waiting a while for another to let go.
fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Other(format!(
                    "{} is in use by another fairpos process (the till window?); try again when it has finished",
                    dir.display()
                )))
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(Error::Io { path, source })
            }
        }
    }
}

/// The `meta` key of the secret headquarters gave this till at enrolment.
pub const DEVICE_SECRET: &str = "device_secret";

/// The `meta` key of the secret this till made at enrolment for its signing key (bundles,
/// shift slips), when headquarters keeps that key's public half.
pub const SIGNING_SECRET: &str = "signing_secret";

/// A value of the `meta` table.
pub fn meta_value(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(meta(conn, key)?)
}

/// What this till signs its bundles and slips with: the secret of the signing key it made
/// at enrolment, or (enrolled before those, or with an older headquarters) the secret
/// headquarters gave it; `None` when it never enrolled.
pub fn signing_secret(conn: &Connection) -> Result<Option<String>> {
    match meta_value(conn, SIGNING_SECRET)? {
        Some(own) => Ok(Some(own)),
        None => meta_value(conn, DEVICE_SECRET),
    }
}

/// The most characters a stall's code may have: a receipt's line, not a page of text.
const LONGEST_STALL: usize = 300;

/// Whether `stall` can be a stall's code, as `init --stall` gives it or headquarters grants
/// it at an enrolment: printed on every receipt and filed with every sale, so never empty,
/// never with spaces around it or a control character, never a page of text.
pub(crate) fn is_a_stall_code(stall: &str) -> bool {
    !stall.is_empty()
        && stall.trim() == stall
        && !stall.chars().any(fairpos_domain::text::is_hidden)
        && stall.chars().count() <= LONGEST_STALL
}

impl Store {
    /// Makes a new till in `dir`. Refused if `dir` already holds one.
    pub fn init(dir: &Path, options: &InitOptions) -> Result<Store> {
        let fair = Fair::from_toml(options.fair_toml)?;
        let device = DeviceCode::parse(options.device)?;
        pins::check_pin(options.lead_pin)?;
        // As headquarters' enrolment would have it: every sale files under it, and a stall
        // the fair does not know (`S02 `, empty, an escape) filed the day under none.
        let stall = options.stall;
        if !is_a_stall_code(stall) {
            return Err(Error::input(format!(
                "--stall {}: give the stall's code as the fair's stalls list has it (no \
                 spaces around it, no control characters)",
                fairpos_domain::text::shown(stall)
            )));
        }
        if dir.join(DB_FILE).exists() {
            let existing = Store::open(dir)?;
            return Err(Error::input(format!(
                "{} already holds till {} of {}; use another --data directory",
                dir.display(),
                existing.identity.device,
                existing.identity.fair.name
            )));
        }
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let lock = lock_dir(dir)?;
        let mut conn = open_connection(&dir.join(DB_FILE))?;
        schema::migrate(&mut conn)?;
        let pin_hash = pins::hash_pin(options.lead_pin)?;
        let actor = options.actor.clone().unwrap_or_else(ActorId::random);
        let tx = conn.transaction()?;
        for (key, value) in [
            ("device", options.device),
            ("stall", options.stall),
            ("fair_toml", options.fair_toml),
            ("actor", actor.to_hex_string().as_str()),
            ("lead_pin_hash", pin_hash.as_str()),
        ] {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)",
                params![key, value],
            )?;
        }
        tx.commit()?;
        Ok(Store {
            conn,
            identity: Identity {
                device,
                stall: options.stall.to_string(),
                fair,
                actor,
            },
            state: TillState::default(),
            ledgers: HashMap::new(),
            journaled: 0,
            since_checkpoint: 0,
            _lock: lock,
        })
    }

    /// Opens the till in `dir`, rebuilding its projection if it is behind its ledger.
    pub fn open(dir: &Path) -> Result<Store> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(Error::input(format!(
                "no till in {}: set one up with `fairpos --data {} init --demo --lead-pin PIN`",
                dir.display(),
                dir.display()
            )));
        }
        let lock = lock_dir(dir)?;
        let mut conn = open_connection(&path)?;
        schema::migrate(&mut conn)?;
        let meta = |key: &str| -> Result<String> {
            meta_value(&conn, key)?
                .ok_or_else(|| Error::Integrity(format!("the till's `{key}` is missing")))
        };
        let fair = Fair::from_toml(&meta("fair_toml")?)
            .map_err(|e| Error::Integrity(format!("the stored fair: {e}")))?;
        let actor = ActorId::try_from(meta("actor")?.as_str())
            .map_err(|e| Error::Integrity(format!("the till's actor id: {e}")))?;
        let device = DeviceCode::parse(&meta("device")?)
            .map_err(|e| Error::Integrity(format!("the till's device code: {e}")))?;
        let identity = Identity {
            device,
            stall: meta("stall")?,
            fair,
            actor,
        };
        let mut store = Store {
            conn,
            identity,
            state: TillState::default(),
            ledgers: HashMap::new(),
            journaled: 0,
            since_checkpoint: 0,
            _lock: lock,
        };
        // Sales the last process acknowledged but did not get to append to their documents.
        store.journaled = storage::journaled(&store.conn)?.len();
        store.catch_up()?;
        if let Some(why) = store.projection_lag()? {
            let n = store.rebuild_projection()?;
            eprintln!("repaired the tables from the ledger ({why}): {n} records applied");
        }
        store.state = store.load_state()?;
        Ok(store)
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The till's state as of the last write.
    pub fn state(&self) -> &TillState {
        &self.state
    }

    /// The database with its projection complete.
    pub fn reader(&mut self) -> Result<&Connection> {
        self.catch_up()?;
        Ok(&self.conn)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        meta_value(&self.conn, key)
    }

    /// Sets a value of the till's `meta` table (sync state, credentials).
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        Ok(fairpos_projection::schema::set_meta(
            &self.conn, key, value,
        )?)
    }

    /// Removes a value of the till's `meta` table, if it is there.
    pub fn forget_meta(&mut self, key: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM meta WHERE key = ?1", [key])?;
        Ok(())
    }

    /// Keeps what an enrolment gave, in one transaction: the device secret headquarters
    /// gave, and the secret of the signing key made for it when headquarters kept that
    /// key's public half (`signing`), else none: the till then signs with the key its device
    /// secret derives, which headquarters holds.
    pub fn keep_credentials(&mut self, device_secret: &str, signing: Option<&str>) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        fairpos_projection::schema::set_meta(&tx, DEVICE_SECRET, device_secret)?;
        match signing {
            Some(secret) => fairpos_projection::schema::set_meta(&tx, SIGNING_SECRET, secret)?,
            None => {
                tx.execute("DELETE FROM meta WHERE key = ?1", [SIGNING_SECRET])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Runs `f` in one immediate transaction; records it appends reach the ledger and the
    /// tables together, and nothing of it stays if it fails.
    pub fn write<T>(&mut self, f: impl FnOnce(&mut Writer<'_>) -> Result<T>) -> Result<T> {
        self.catch_up()?;
        self.transact(f)
    }

    /// Writes a sale: like [`Store::write`], but sales already waiting in the journal stay
    /// there (a sale reads only the till's state, never the tables), so a run of sales pays
    /// one small durable row each and their documents catch up in one go.
    pub fn write_sale<T>(&mut self, f: impl FnOnce(&mut Writer<'_>) -> Result<T>) -> Result<T> {
        self.transact(f)
    }

    fn transact<T>(&mut self, f: impl FnOnce(&mut Writer<'_>) -> Result<T>) -> Result<T> {
        let (outcome, touched, journaled, reload) = {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut writer = Writer::new(tx, &mut self.ledgers, &self.identity, &mut self.state);
            let result = f(&mut writer);
            let (tx, touched, journaled, reload) = writer.finish();
            let outcome = result.and_then(|v| tx.commit().map(|_| v).map_err(Error::from));
            (outcome, touched, journaled, reload)
        };
        self.since_checkpoint += 1;
        match outcome {
            Ok(v) => {
                self.journaled += journaled;
                if reload {
                    self.catch_up()?;
                    self.state = self.load_state()?;
                }
                Ok(v)
            }
            Err(e) => {
                // The in-memory documents and state may hold what never reached the disk.
                for id in touched {
                    self.ledgers.remove(&id);
                }
                match self.load_state() {
                    Ok(state) => self.state = state,
                    Err(reload) => {
                        eprintln!("warning: the till state could not be reloaded: {reload}")
                    }
                }
                Err(e)
            }
        }
    }

    /// The till's state from the tables and the records still waiting in the journal.
    fn load_state(&self) -> Result<TillState> {
        let mut state = TillState::load(&self.conn, &self.identity.device)?;
        for waiting in storage::journaled(&self.conn)? {
            state.observe(&waiting.record);
        }
        Ok(state)
    }

    /// Appends the sales waiting in the journal to their documents and projects them, in a
    /// durable transaction of their own: the work a sale leaves for after its acknowledgement.
    /// (Left without an fsync, its pages would be flushed by the next sale's.)
    pub fn catch_up(&mut self) -> Result<usize> {
        if self.journaled == 0 {
            return Ok(0);
        }
        let applied = self.transact(|w| w.flush_journal())?;
        self.journaled = 0;
        Ok(applied)
    }

    /// Copies the write-ahead log into the database once enough transactions have gathered
    /// in it. Run off the sale's path (`Till::tidy`).
    pub fn checkpoint_if_due(&mut self) -> Result<bool> {
        if self.since_checkpoint < CHECKPOINT_EVERY {
            return Ok(false);
        }
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        self.since_checkpoint = 0;
        Ok(true)
    }

    /// Why the projection is behind the ledger, if it is: the ledger counts its records as
    /// they are stored, the projection as they are applied.
    fn projection_lag(&self) -> Result<Option<String>> {
        let in_ledger: i64 = storage::stored_docs(&self.conn)?
            .iter()
            .map(|d| d.records)
            .sum();
        let (projected, sale_records, sales): (i64, i64, i64) = self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM records),
                    (SELECT COUNT(*) FROM records WHERE kind = 'sale'),
                    (SELECT COUNT(*) FROM sales)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        if in_ledger != projected {
            return Ok(Some(format!(
                "the ledger holds {in_ledger} records, the tables {projected}"
            )));
        }
        if sale_records != sales {
            return Ok(Some(format!(
                "the ledger holds {sale_records} sales, the tables {sales}"
            )));
        }
        Ok(None)
    }

    /// Rebuilds every projected row from the ledger documents. Returns the records applied.
    pub fn rebuild_projection(&mut self) -> Result<usize> {
        self.write(|w| {
            let docs = verify::load_all(w.conn())?;
            clear_projection(w.conn())?;
            let mut all: Vec<(&Record, String)> = docs
                .iter()
                .flat_map(|(doc, records)| records.iter().map(move |r| (r, doc.id().key())))
                .collect();
            all.sort_by(|a, b| {
                let (x, y) = (a.0.header(), b.0.header());
                (&x.device, x.seq).cmp(&(&y.device, y.seq))
            });
            for (record, key) in &all {
                projection::apply(w.conn(), record, key)?;
            }
            w.reload_state_after();
            Ok(all.len())
        })
    }

    /// Folds loose ledger changes into snapshots where they have piled up. Off the hot path:
    /// run after a sale is acknowledged, or when idle.
    pub fn compact_ledgers(&mut self, threshold: i64) -> Result<usize> {
        let due: Vec<LedgerId> = storage::stored_docs(&self.conn)?
            .into_iter()
            .filter(|d| d.loose >= threshold)
            .map(|d| d.id)
            .collect();
        for id in &due {
            self.write(|w| w.compact(id))?;
        }
        Ok(due.len())
    }
}

/// The fair of the till in `dir` and its receipt key, read without taking the directory
/// (diagnostics may run while the till sells). The demo fair when there is no till.
pub fn peek_fair(dir: &Path) -> Result<(Fair, Option<Vec<u8>>)> {
    let path = dir.join(DB_FILE);
    if !path.exists() {
        let fair = Fair::from_toml(demo::FAIR_TOML)?;
        return Ok((fair, None));
    }
    let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let toml = meta_value(&conn, "fair_toml")?
        .ok_or_else(|| Error::Integrity("the till's fair is missing".into()))?;
    let key = meta_value(&conn, "receipt_key")?.map(String::into_bytes);
    Ok((Fair::from_toml(&toml)?, key))
}
