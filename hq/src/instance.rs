//! The data directory of a headquarters or a hub: its database (`hq.db`: the catalog and
//! projection tables a till has, plus devices, codes, sessions, the documents accepted, the
//! sync event log and samod's key-value store), its fair and its role.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fairpos_domain::fair::Fair;
use fairpos_projection::{rollup, schema};
use fairpos_sync::samod_storage;
use rusqlite::{params, Connection};

use crate::{catalog, Error, Result};

pub const HQ_DB: &str = "hq.db";

/// The data directory's meta key naming the database `hq init --database` chose.
pub const META_DATABASE: &str = "database";

/// Headquarters proper, or a hub that relays to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Hq,
    /// A venue's hub: its device code at headquarters and the headquarters URL.
    Hub {
        device: String,
        upstream: String,
    },
}

impl Role {
    /// As `/api/v1/health` and `/metrics` name it: `hq` or `hub`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Hq => "hq",
            Role::Hub { .. } => "hub",
        }
    }
}

/// What a new data directory is founded as.
pub enum Founding<'a> {
    /// Headquarters proper, with the first organizer account's password.
    Hq { organizer_password: &'a str },
    /// A venue's hub, from what headquarters gave it at enrolment.
    Hub { device: &'a str, upstream: &'a str },
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS devices (
    device      TEXT PRIMARY KEY,
    stall       TEXT NOT NULL,
    role        TEXT NOT NULL,          -- till | hub
    secret_hash TEXT,
    public_key  TEXT,
    actor       TEXT,
    enrolled_at TEXT,
    revoked_at  TEXT
) STRICT;

CREATE TABLE IF NOT EXISTS enroll_codes (
    code_hash  TEXT PRIMARY KEY,
    device     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    used_at    TEXT,
    used_actor TEXT
) STRICT;

CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    peer       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen  TEXT,
    account    TEXT                     -- the account logged in (accounts.name)
) STRICT;

-- Every document headquarters accepts: ledgers announced by their tills, and the catalog.
CREATE TABLE IF NOT EXISTS hq_docs (
    doc_id     TEXT PRIMARY KEY,
    doc_key    TEXT NOT NULL UNIQUE,
    device     TEXT,
    heads      TEXT NOT NULL,           -- as far as the projection has applied it
    records    INTEGER NOT NULL,
    refused    TEXT,                    -- why the projection refuses it, if it does
    updated_at TEXT NOT NULL,
    chunks_digest TEXT,                 -- of the keys of the stored chunks projected
    weight_fen INTEGER,                 -- what its records come to (plausible::Weight)
    weight_qty INTEGER,
    weight_heads TEXT                   -- the heads at which they did
) STRICT;

CREATE TABLE IF NOT EXISTS sync_events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    device TEXT NOT NULL,
    kind   TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS sales_shift ON sales (shift_id);
-- What reconciliation and a unit's list look up by, so that they read one till's, one
-- shift's or one unit's rows at a province's size.
CREATE INDEX IF NOT EXISTS sales_unit ON sales (unit_tax_id) WHERE unit_tax_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS shifts_device ON shifts (device);
CREATE INDEX IF NOT EXISTS cash_moves_shift ON cash_moves (shift_id);
CREATE INDEX IF NOT EXISTS hq_docs_device ON hq_docs (device);
";

/// Opens the database of the headquarters in `dir`.
pub fn connect(dir: &Path) -> Result<Connection> {
    connect_file(&dir.join(HQ_DB))
}

/// Opens the headquarters' database file at `path` (a copy `hq restore` is about to put in
/// place, say) as [`connect`] opens it.
pub(crate) fn connect_file(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(128);
    // The first statement reads the file: one that is not a database is named.
    let wal = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0));
    if let Err(e) = wal {
        return Err(match schema::not_a_database(&e, path) {
            Some(named) => Error::Other(format!("{named}: restore it from a backup")),
            None => e.into(),
        });
    }
    // Headquarters projects every till into one database: a page cache that holds a fair's
    // indexes (128 MiB; SQLite's default is 2 MiB) keeps projection from re-reading them.
    // Statement journals in memory: each upsert and multi-row insert inside projection's
    // transaction otherwise writes its undo pages to a temporary file (a quarter of a cold
    // projection's time went to those writes).
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -131072;
         PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};",
    ))?;
    // It holds the login cookies' key, a hub's secret upstream, perhaps a database address
    // with its password: no access for others (the WAL's files now made as it is).
    schema::keep_private(path);
    Ok(conn)
}

/// The size the write-ahead log is cut back to when it starts over, once a checkpoint has
/// copied all of it: a storm of syncs grows it to hundreds of megabytes, which SQLite would
/// otherwise keep on disk for good.
pub const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// Headquarters from before the digest: its ledgers are each taken once more at the next
/// start, which stores their digests.
fn add_chunks_digest(conn: &Connection) -> Result<()> {
    if !schema::has_column(conn, "hq_docs", "chunks_digest")? {
        conn.execute_batch("ALTER TABLE hq_docs ADD COLUMN chunks_digest TEXT")?;
    }
    Ok(())
}

/// Headquarters from before the ledgers' weights: each ledger is read whole once more at its
/// next projection, which stores what its records come to, and at which heads.
fn add_ledger_weights(conn: &Connection) -> Result<()> {
    for (column, kind) in [
        ("weight_fen", "INTEGER"),
        ("weight_qty", "INTEGER"),
        ("weight_heads", "TEXT"),
    ] {
        if !schema::has_column(conn, "hq_docs", column)? {
            conn.execute_batch(&format!("ALTER TABLE hq_docs ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

/// Sales indexed by their id, once: a ledger holding a sale whose id another till's sale
/// holds is refused (`fairpos_projection::apply::sale_id_taken`), where before both were
/// taken and a void of either named two sales. A headquarters from before whose sales hold
/// an id twice keeps the plain index it had, and says which id: tried once (as PostgreSQL's
/// migration 16 is), remembered in `meta`, not at every open (an index over millions of
/// sales, built and thrown away by every command).
fn sale_ids_once(conn: &Connection) -> Result<()> {
    let say = |twice: &str| eprintln!("{}", fairpos_projection::apply::sale_held_twice(twice));
    if let Some(twice) = meta(conn, SALE_HELD_TWICE)? {
        say(&twice);
        return Ok(());
    }
    let once = "CREATE UNIQUE INDEX IF NOT EXISTS sales_id_once ON sales (id)";
    match conn.execute_batch(once) {
        Ok(()) => Ok(conn.execute_batch("DROP INDEX IF EXISTS sales_id")?),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
            let twice: String = conn.query_row(
                "SELECT id FROM sales GROUP BY id HAVING COUNT(*) > 1 LIMIT 1",
                [],
                |r| r.get(0),
            )?;
            say(&twice);
            conn.execute_batch("CREATE INDEX IF NOT EXISTS sales_id ON sales (id)")?;
            set_meta(conn, SALE_HELD_TWICE, &twice)
        }
        Err(e) => Err(e.into()),
    }
}

/// The `meta` key naming a sale id two sales held when sales were to be indexed by id once.
const SALE_HELD_TWICE: &str = "sale_id_held_twice";

/// The schema this build brings a headquarters' database to (`PRAGMA user_version`): 1,
/// the catalog's tables made; 2, every step below taken by a build that refuses a newer
/// schema. Raised by a change that older builds would write wrongly over (a trigger they
/// lack, a column they leave empty): they were let write on, silently.
const HQ_SCHEMA: i64 = 2;

fn create_tables(conn: &Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    // A headquarters a newer build brought further (rolled back to an older build).
    if version > HQ_SCHEMA {
        return Err(Error::Other(format!(
            "the headquarters database is of schema {version}, newer than this build's \
             {HQ_SCHEMA}: run the build that made it, or a newer one"
        )));
    }
    if version == 0 {
        // In one transaction: a power cut halfway left tables that every later opening
        // tried to make again ("table products already exists").
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(schema::CATALOG)?;
        tx.execute_batch("PRAGMA user_version = 1")?;
        tx.commit()?;
    }
    // A catalog from before the PLUs' index by value, which an import frees a moved PLU by.
    conn.execute_batch(schema::PLU_VALUE_INDEX)?;
    conn.execute_batch(schema::META)?;
    // A projection from before its corrections held their sale's till: filled once, here.
    if schema::has_column(conn, "voids", "id")?
        && !schema::has_column(conn, "voids", "sale_device")?
    {
        let count = "SELECT (SELECT COUNT(*) FROM voids) + (SELECT COUNT(*) FROM refunds)";
        let held: i64 = conn.query_row(count, [], |r| r.get(0))?;
        if held > 0 {
            eprintln!(
                "giving {held} voids and refunds their sale's till and lines (once; seconds for \
                 millions of sales)"
            );
        }
    }
    schema::create_projection(conn)?;
    samod_storage::migrate(conn)?;
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(crate::till_added::SCHEMA)?;
    crate::registry::install(conn)?;
    add_chunks_digest(conn)?;
    add_ledger_weights(conn)?;
    crate::upstream_refusals::add_column(conn)?;
    sale_ids_once(conn)?;
    // Reports and reconciliation read running totals, not every sale.
    if !rollup::installed(conn)? {
        let held: i64 = conn.query_row("SELECT COUNT(*) FROM sales", [], |r| r.get(0))?;
        if held > 0 {
            eprintln!("counting {held} sales into the report roll-up (once; minutes for millions)");
        }
    }
    rollup::install(conn)?;
    crate::sessions::migrate(conn)?;
    crate::accounts::migrate(conn)?;
    conn.execute_batch(crate::screen::tokens::SCHEMA)?;
    conn.execute_batch(crate::statements::SCHEMA)?;
    crate::statements::add_flows(conn)?;
    conn.execute_batch(crate::slips::SCHEMA)?;
    crate::audit::migrate(conn)?;
    if version < HQ_SCHEMA {
        conn.execute_batch(&format!("PRAGMA user_version = {HQ_SCHEMA}"))?;
    }
    Ok(())
}

/// The data directory of a headquarters or hub.
pub struct Hq {
    pub dir: PathBuf,
    pub conn: Connection,
    pub fair: Fair,
    pub role: Role,
}

/// Now as headquarters writes its times (RFC 3339, UTC, to the second), which compare as
/// text.
pub fn now_text() -> String {
    time_text(chrono::Utc::now())
}

/// `at` as headquarters writes its times ([`now_text`]).
pub fn time_text(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A value of the `meta` table.
pub fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(schema::meta(conn, key)?)
}

pub fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    Ok(schema::set_meta(conn, key, value)?)
}

/// Refuses a directory that already holds a till or headquarters (a database file).
pub(crate) fn check_unused(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".db") {
            return Err(Error::input(format!(
                "{} already holds a till or headquarters ({name}); use another --data directory",
                dir.display()
            )));
        }
    }
    Ok(())
}

impl Hq {
    /// A demo fair's hub H01 in `dir`, for tests: its upstream never dialled.
    #[cfg(test)]
    pub(crate) fn test_hub(dir: &Path) -> Hq {
        let founding = Founding::Hub {
            device: "H01",
            upstream: "https://hq.example",
        };
        Hq::init(dir, fairpos_domain::demo::FAIR_TOML, founding).expect("a hub for tests")
    }

    /// Makes a new headquarters or hub in `dir` for the fair in `fair_toml`.
    pub fn init(dir: &Path, fair_toml: &str, founding: Founding) -> Result<Hq> {
        let fair = Fair::from_toml(fair_toml)?;
        let password_hash = match &founding {
            Founding::Hq { organizer_password } => {
                Some(crate::accounts::hash_password(organizer_password)?)
            }
            Founding::Hub { .. } => None,
        };
        check_unused(dir)?;
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        // Made by this init or not at all: a database another made meanwhile is never taken
        // for this one's, nor removed when this one fails.
        let path = dir.join(HQ_DB);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => Error::input(format!(
                    "{} already holds a till or headquarters ({HQ_DB}); use another --data \
                     directory",
                    dir.display()
                )),
                _ => Error::Io {
                    path: path.clone(),
                    source,
                },
            })?;
        // Half made, it was a headquarters `hq serve` served and a new init refused.
        Hq::set_up(dir, fair, fair_toml, founding, password_hash).inspect_err(|_| {
            Hq::remove_database_of(dir);
        })
    }

    /// [`Hq::init`]'s work once its database file is made.
    fn set_up(
        dir: &Path,
        fair: Fair,
        fair_toml: &str,
        founding: Founding,
        password_hash: Option<String>,
    ) -> Result<Hq> {
        let conn = connect(dir)?;
        create_tables(&conn)?;
        set_meta(&conn, "fair_toml", fair_toml)?;
        set_meta(
            &conn,
            "actor",
            &fairpos_sync::ActorId::random().to_hex_string(),
        )?;
        let role = match founding {
            Founding::Hq { .. } => {
                set_meta(&conn, "role", "hq")?;
                if let Some(hash) = &password_hash {
                    crate::accounts::insert_first_organizer(&conn, hash)?;
                }
                Role::Hq
            }
            Founding::Hub { device, upstream } => {
                set_meta(&conn, "role", "hub")?;
                set_meta(&conn, "hub_device", device)?;
                set_meta(&conn, "upstream", upstream)?;
                Role::Hub {
                    device: device.to_string(),
                    upstream: upstream.to_string(),
                }
            }
        };
        let hq = Hq {
            dir: dir.to_path_buf(),
            conn,
            fair,
            role,
        };
        if hq.role == Role::Hq {
            // A hub takes headquarters' catalog document whole instead.
            catalog::create(&hq)?;
        }
        Ok(hq)
    }

    /// The SQLite database of `dir`, with its write-ahead log, removed: what an `init` that
    /// failed halfway made. A failure to remove is said.
    pub(crate) fn remove_database_of(dir: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let path = dir.join(format!("{HQ_DB}{suffix}"));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => eprintln!("{} is left half set up: {e}", path.display()),
            }
        }
    }

    pub fn open(dir: &Path) -> Result<Hq> {
        if !dir.join(HQ_DB).exists() {
            return Err(Error::input(format!(
                "no headquarters in {}: set one up with `fairpos --data {} hq init --demo --organizer-password PW`",
                dir.display(),
                dir.display()
            )));
        }
        Hq::open_file(dir, &dir.join(HQ_DB))
    }

    /// The headquarters of `dir` as its database file at `path` holds it, brought to the
    /// latest schema.
    pub(crate) fn open_file(dir: &Path, path: &Path) -> Result<Hq> {
        let conn = connect_file(path)?;
        create_tables(&conn)?;
        let fair_toml = meta(&conn, "fair_toml")?
            .ok_or_else(|| Error::Integrity("the headquarters has no fair".into()))?;
        let fair = Fair::from_toml(&fair_toml)?;
        let role = match meta(&conn, "role")?.as_deref() {
            Some("hub") => Role::Hub {
                device: meta(&conn, "hub_device")?.unwrap_or_default(),
                upstream: meta(&conn, "upstream")?.unwrap_or_default(),
            },
            _ => Role::Hq,
        };
        Ok(Hq {
            dir: dir.to_path_buf(),
            conn,
            fair,
            role,
        })
    }

    /// The peer id this instance syncs as.
    pub fn peer_id(&self) -> String {
        match &self.role {
            Role::Hq => format!("hq:{}", self.fair.id),
            Role::Hub { device, .. } => format!("hub:{device}"),
        }
    }

    /// Writes a line to the sync event log (and stderr).
    pub fn log_event(conn: &Connection, device: &str, kind: &str, detail: &str) {
        eprintln!("{kind}: {device}: {detail}");
        let _ = conn.execute(
            "INSERT INTO sync_events(at, device, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            params![now_text(), device, kind, detail],
        );
    }
}
