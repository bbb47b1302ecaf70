//! What headquarters knows of its devices and their documents, in PostgreSQL, shared by every
//! `hq serve` process: enrolled devices and one-time enrolment codes (hashes only, as
//! SQLite's), the ledger documents tills announce and how far each is projected (what a till's
//! confirmation reads), and sync events. SQLite's tables (`hq/src/instance.rs`), timestamptz.
//!
//! Each function is one statement or one transaction, so processes may call any at once: an
//! enrolment code is taken under a row lock, one device's announcements take turns (its limit
//! holds), a refusal is logged once, and a ledger's stored heads never go back to older ones.

use deadpool_postgres::GenericClient;

use crate::{Error, Pool, Result};

mod announced;
pub(crate) use announced::register_mirrored;
pub use announced::{
    announce, announced, documents, projected, refuse, refused_documents, refused_for,
    stored_sizes, unrefuse, ChunksRead, DocState, ProjectedState,
};

/// Migration 12: what each ledger's records come to as projected
/// ([`fairpos_sync::plausible::Weight`]), so that a projection resumes by reading only the
/// records added since. `NULL` where a build before it projected the ledger.
pub(crate) const WEIGHTS: &str = "
ALTER TABLE hq_docs
    ADD COLUMN IF NOT EXISTS weight_fen BIGINT,
    ADD COLUMN IF NOT EXISTS weight_qty BIGINT;
";

/// Migration 13: the heads at which a ledger's records came to its weight: another than
/// `heads` where a build before it, still running beside, projected the ledger further since
/// (it writes the heads alone), and `NULL` until a projection of this build, so that a
/// weight is used only with the heads it describes.
pub(crate) const WEIGHT_HEADS: &str = "
ALTER TABLE hq_docs ADD COLUMN IF NOT EXISTS weight_heads TEXT;
";

/// Migration 14: what a ledger's next projection needs to read the chunks stored since on
/// their own, without loading its document: the keys of the chunks its heads were read from,
/// and its records map. `NULL` until a projection of this build.
pub(crate) const CHUNKS_READ: &str = "
ALTER TABLE hq_docs
    ADD COLUMN IF NOT EXISTS chunk_keys TEXT[],
    ADD COLUMN IF NOT EXISTS records_map TEXT;
";

/// The schema of migration 3.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS devices (
    device      TEXT COLLATE \"C\" PRIMARY KEY,
    stall       TEXT NOT NULL,
    role        TEXT NOT NULL,          -- till | hub
    secret_hash TEXT,
    public_key  TEXT,
    actor       TEXT,
    enrolled_at TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS enroll_codes (
    code_hash  TEXT PRIMARY KEY,
    device     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    used_at    TIMESTAMPTZ,
    used_actor TEXT
);
CREATE TABLE IF NOT EXISTS hq_docs (
    doc_id     TEXT COLLATE \"C\" PRIMARY KEY,
    doc_key    TEXT COLLATE \"C\" NOT NULL UNIQUE,
    device     TEXT COLLATE \"C\",
    heads      TEXT NOT NULL,           -- as far as the projection has applied it
    records    BIGINT NOT NULL,
    refused    TEXT,                    -- why the projection refuses it, if it does
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    chunks_digest TEXT                  -- of the keys of the stored chunks projected
);
CREATE INDEX IF NOT EXISTS hq_docs_device ON hq_docs (device);
CREATE TABLE IF NOT EXISTS shift_slips (
    device       TEXT COLLATE \"C\" NOT NULL,
    shift        TEXT NOT NULL,
    closed_at    TEXT NOT NULL,
    first_sale   TEXT,            -- the shift's own first and last sales
    last_sale    TEXT,
    upto         TEXT,            -- the till's last sale at the close, and its number
    upto_seq     BIGINT,
    sales        BIGINT NOT NULL,
    expected_fen BIGINT NOT NULL,
    counted_fen  BIGINT NOT NULL,
    variance_fen BIGINT NOT NULL,
    heads        TEXT NOT NULL,
    text         TEXT NOT NULL,
    verified_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (device, shift)
);
CREATE TABLE IF NOT EXISTS statement_files (
    sha256      TEXT PRIMARY KEY,
    name        TEXT COLLATE \"C\" NOT NULL,
    provider    TEXT COLLATE \"C\" NOT NULL,
    stall       TEXT COLLATE \"C\" NOT NULL,
    layout      TEXT NOT NULL,
    encoding    TEXT NOT NULL,
    lines       BIGINT NOT NULL,
    covers_from TEXT,               -- Beijing time, as SQLite's
    covers_to   TEXT,
    imported_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS statement_lines (
    provider   TEXT COLLATE \"C\" NOT NULL,
    txn        TEXT COLLATE \"C\" NOT NULL,
    flow       TEXT NOT NULL,
    stall      TEXT COLLATE \"C\" NOT NULL,
    amount_fen BIGINT NOT NULL,
    at         TEXT COLLATE \"C\" NOT NULL,  -- Beijing time, as the provider prints it
    note       TEXT NOT NULL,
    file       TEXT NOT NULL,             -- statement_files.sha256
    line       BIGINT NOT NULL,
    PRIMARY KEY (provider, txn, flow)
);
CREATE INDEX IF NOT EXISTS statement_lines_stall ON statement_lines (stall, provider);
CREATE TABLE IF NOT EXISTS hq_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_events (
    id     BIGSERIAL PRIMARY KEY,
    at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    device TEXT NOT NULL,
    kind   TEXT NOT NULL,
    detail TEXT NOT NULL
);
";

/// Makes the database the headquarters of `fair` (by its id) unless it is already another
/// fair's: then that fair's id is returned, and nothing changes.
pub async fn claim_fair(pool: &Pool, fair: &str) -> Result<Option<String>> {
    let held = meta_claimed(pool, "fair", fair).await?;
    Ok((held != fair).then_some(held))
}

/// What a database holds before this build migrates it: the fair it is the headquarters of
/// (if any), and, when no fairpos build ever migrated it, a few of the tables it holds
/// (another application's). Read only: a wrong address is refused before it is changed.
pub async fn before_migrating(pool: &Pool) -> Result<(Option<String>, Vec<String>)> {
    let client = pool.get().await?;
    let fair = client
        .query_opt("SELECT value FROM hq_meta WHERE key = 'fair'", &[])
        .await;
    // `hq_meta` may not be there: the query is then refused as it is planned.
    let fair = match fair {
        Ok(row) => row.map(|r| r.get(0)),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => None,
        Err(e) => return Err(e.into()),
    };
    let ours: bool = client
        .query_one("SELECT to_regclass('fairpos_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    let others = if ours {
        Vec::new()
    } else {
        client
            .query(
                // Tables (not views), of the schema tables are made in, but those an
                // extension made (PostGIS's `spatial_ref_sys`).
                "SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = current_schema()::regnamespace
                   AND c.relkind IN ('r', 'p')
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                   WHERE d.classid = 'pg_class'::regclass
                                     AND d.objid = c.oid AND d.deptype = 'e')
                 ORDER BY c.relname LIMIT 5",
                &[],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    Ok((fair, others))
}

/// The value of `key` in `hq_meta`, set to `value` unless it has one.
pub async fn meta_claimed(pool: &Pool, key: &str, value: &str) -> Result<String> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            // Two claims at once: the second waits for the first's row and returns it.
            "INSERT INTO hq_meta(key, value) VALUES ($1, $2)
             ON CONFLICT(key) DO UPDATE SET value = hq_meta.value RETURNING value",
            &[&key, &value],
        )
        .await?;
    Ok(row.get(0))
}

/// A device as its credentials are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub role: String,
    pub secret_hash: Option<String>,
    pub revoked: bool,
}

impl Credentials {
    /// Whether the device's grants must end: revoked, or added again and not enrolled since
    /// (as `devices::shut_out` says on SQLite).
    pub fn shut_out(&self) -> bool {
        self.revoked || self.secret_hash.is_none()
    }
}

/// A device asking to enrol.
#[derive(Clone, Copy, Debug)]
pub struct Enrolling<'a> {
    /// The hash of the code it was given.
    pub code_hash: &'a str,
    /// The Automerge actor it writes with.
    pub actor: &'a str,
    /// The device it is already, enrolling again.
    pub again: Option<&'a str>,
    /// What it enrols as (`till` or `hub`), when it says.
    pub role: Option<&'a str>,
}

/// What enrolment gives a device, or why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enrolment {
    Granted {
        device: String,
        stall: String,
        role: String,
        /// A retry of an enrolment already made with the code.
        retry: bool,
    },
    UnknownCode,
    CodeUsed,
    /// Taken by this device before, and refused it again: past the retry window, with
    /// another signing key, or revoked since.
    RetryRefused,
    /// The code is for a device of this role, not the one enrolling.
    OtherRole(String),
    /// A new till (not enrolling again) for a device whose ledgers are held.
    LedgersHeld(String),
    /// The code is for device `code_for`, and the device enrolling again is `enrolling`.
    OtherDevice {
        code_for: String,
        enrolling: String,
    },
}

/// Registers `device` (`role` till or hub, at `stall`) with the enrolment code whose hash is
/// `code_hash`. Refused (`Ok(false)`) while the device is enrolled and not revoked.
pub async fn add_device(
    pool: &Pool,
    device: &str,
    stall: &str,
    role: &str,
    code_hash: &str,
) -> Result<bool> {
    let mut client = pool.get().await?;
    let tx = crate::read_committed(&mut client).await?;
    let enrolled = tx
        .query_opt(
            "SELECT revoked_at IS NULL FROM devices
             WHERE device = $1 AND enrolled_at IS NOT NULL FOR UPDATE",
            &[&device],
        )
        .await?;
    if enrolled.is_some_and(|r| r.get::<_, bool>(0)) {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO devices(device, stall, role) VALUES ($1, $2, $3)
         ON CONFLICT(device) DO UPDATE SET stall = excluded.stall, role = excluded.role,
             secret_hash = NULL, public_key = NULL, actor = NULL, enrolled_at = NULL,
             revoked_at = NULL",
        &[&device, &stall, &role],
    )
    .await?;
    // The new code replaces every code of the device before it, used or not.
    tx.execute("DELETE FROM enroll_codes WHERE device = $1", &[&device])
        .await?;
    tx.execute(
        "INSERT INTO enroll_codes(code_hash, device) VALUES ($1, $2)",
        &[&code_hash, &device],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Uses the code whose hash is `code_hash` for the device writing with `actor` (see
/// [`Enrolling`]), storing the hash and public key of its new secret. A code works once; the
/// same actor (a till with the same signing key) may use it again (a device whose first
/// attempt never heard back) within [`ENROL_RETRY_WINDOW`] of its first use, while the
/// device is enrolled with it and not revoked. A device enrolling as a till is refused a
/// hub's code and the other way round, and one enrolling again as device `again` a code for
/// another device, the code unused; a new one, a device whose ledgers are held. Two
/// processes taking one code at once take turns on its row.
///
/// [`ENROL_RETRY_WINDOW`]: fairpos_sync::protocol::ENROL_RETRY_WINDOW
pub async fn enroll(
    pool: &Pool,
    enrolling: &Enrolling<'_>,
    secret_hash: &str,
    public_key: &str,
) -> Result<Enrolment> {
    let &Enrolling {
        code_hash,
        actor,
        again,
        role: as_role,
    } = enrolling;
    let mut client = pool.get().await?;
    let tx = crate::read_committed(&mut client).await?;
    // The device's row locked before its code's, as `add_device` and `revoke` lock them:
    // taken the other way round, a code issued again while the till enrolled with the old
    // one was a deadlock, one of the two failing. The code is read again under both locks.
    let for_device = "SELECT device FROM enroll_codes WHERE code_hash = $1";
    let Some(for_device) = tx.query_opt(for_device, &[&code_hash]).await? else {
        return Ok(Enrolment::UnknownCode);
    };
    let for_device: String = for_device.get(0);
    tx.execute(
        "SELECT 1 FROM devices WHERE device = $1 FOR UPDATE",
        &[&for_device],
    )
    .await?;
    let window = fairpos_sync::protocol::ENROL_RETRY_WINDOW.as_secs_f64();
    let Some(code) = tx
        .query_opt(
            "SELECT device, used_actor,
                    COALESCE(used_at >= now() - make_interval(secs => $2), false)
             FROM enroll_codes WHERE code_hash = $1 FOR UPDATE",
            &[&code_hash, &window],
        )
        .await?
    else {
        // Issued again (or the device revoked) meanwhile: this code is no more.
        return Ok(Enrolment::UnknownCode);
    };
    let device: String = code.get(0);
    let used = code.get::<_, Option<&str>>(1);
    let used_lately: bool = code.get(2);
    match used {
        Some(used) if used != actor => return Ok(Enrolment::CodeUsed),
        Some(_) if !used_lately => return Ok(Enrolment::RetryRefused),
        _ => {}
    }
    if let Some(as_role) = as_role {
        let role = "SELECT role FROM devices WHERE device = $1";
        let code_for: String = tx.query_one(role, &[&device]).await?.get(0);
        if code_for != as_role {
            return Ok(Enrolment::OtherRole(code_for));
        }
    }
    if let Some(enrolling) = again.filter(|enrolling| *enrolling != device) {
        return Ok(Enrolment::OtherDevice {
            code_for: device,
            enrolling: enrolling.to_string(),
        });
    }
    let held = "SELECT EXISTS(SELECT 1 FROM hq_docs WHERE device = $1)";
    if again.is_none() && used.is_none() && tx.query_one(held, &[&device]).await?.get(0) {
        return Ok(Enrolment::LedgersHeld(device));
    }
    // A retry (the code used) only of this enrolment: the device enrolled with this actor,
    // and a till with its signing key (a key derived from the new secret is never the one
    // kept; a hub signs nothing, and sends none).
    let Some(row) = tx
        .query_opt(
            "UPDATE devices SET secret_hash = $2, public_key = $3, actor = $4,
                 enrolled_at = now(), revoked_at = NULL
             WHERE device = $1
               AND ($5 OR (actor = $4 AND revoked_at IS NULL
                           AND (public_key = $3 OR role = 'hub')))
             RETURNING stall, role",
            &[&device, &secret_hash, &public_key, &actor, &used.is_none()],
        )
        .await?
    else {
        return Ok(Enrolment::RetryRefused);
    };
    tx.execute(
        "UPDATE enroll_codes SET used_at = COALESCE(used_at, now()), used_actor = $2
         WHERE code_hash = $1",
        &[&code_hash, &actor],
    )
    .await?;
    tx.commit().await?;
    Ok(Enrolment::Granted {
        device,
        stall: row.get(0),
        role: row.get(1),
        retry: used.is_some(),
    })
}

/// What the credentials of `device` are checked against; `None` for a device never added.
pub async fn credentials(pool: &Pool, device: &str) -> Result<Option<Credentials>> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT role, secret_hash, revoked_at IS NOT NULL FROM devices WHERE device = $1",
        )
        .await?;
    Ok(client
        .query_opt(&statement, &[&device])
        .await?
        .map(|r| Credentials {
            role: r.get(0),
            secret_hash: r.get(1),
            revoked: r.get(2),
        }))
}

/// Every device, by code, as a hub's registry lists them.
pub async fn entries(pool: &Pool) -> Result<Vec<fairpos_sync::protocol::DeviceEntry>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT device, stall, role, secret_hash, public_key, actor, revoked_at IS NOT NULL
             FROM devices ORDER BY device",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| fairpos_sync::protocol::DeviceEntry {
            device: r.get(0),
            stall: r.get(1),
            role: r.get(2),
            secret_hash: r.get(3),
            public_key: r.get(4),
            actor: r.get(5),
            revoked: r.get(6),
        })
        .collect())
}

/// The role and public key of `device`, if it is enrolled and not revoked (what a bundle's
/// source is checked against).
pub async fn bundle_source(pool: &Pool, device: &str) -> Result<Option<(String, Option<String>)>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT role, public_key FROM devices WHERE device = $1 AND revoked_at IS NULL",
            &[&device],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Shuts `device` out; `false` when there is no such device not yet revoked.
pub async fn revoke(pool: &Pool, device: &str) -> Result<bool> {
    // Its codes with it: a revoked device's old code must not enrol it again.
    let n = crate::execute(
        pool,
        "WITH codes AS (DELETE FROM enroll_codes WHERE device = $1)
         UPDATE devices SET revoked_at = now() WHERE device = $1 AND revoked_at IS NULL",
        &[&device],
    )
    .await?;
    Ok(n > 0)
}

/// Devices revoked so far, each with which revocation it was: when, and of which enrolment
/// (its secret's hash), as `devices::revoked` reads them on SQLite.
pub async fn revoked(pool: &Pool) -> Result<Vec<(String, String)>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT device, revoked_at::text || ' ' || coalesce(secret_hash, '') FROM devices
             WHERE revoked_at IS NOT NULL",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Whose changes a ledger of a device may hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authors {
    /// The database knows no devices: it mirrors a SQLite headquarters, which checked them.
    Unchecked,
    /// The actor the device enrolled with.
    Actor(String),
    /// The device is unknown, or was added but never enrolled: nobody's.
    Nobody,
}

/// Whose changes the ledgers of `device` may hold.
pub async fn authors_of(client: &impl GenericClient, device: &str) -> Result<Authors> {
    let statement = client
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM devices), (SELECT actor FROM devices WHERE device = $1)",
        )
        .await?;
    let row = client.query_one(&statement, &[&device]).await?;
    Ok(
        match (row.get::<_, bool>(0), row.get::<_, Option<String>>(1)) {
            (false, _) => Authors::Unchecked,
            (true, Some(actor)) => Authors::Actor(actor),
            (true, None) => Authors::Nobody,
        },
    )
}

/// Records a sync event of `device`.
pub async fn log_event(pool: &Pool, device: &str, kind: &str, detail: &str) -> Result<()> {
    crate::execute(
        pool,
        "INSERT INTO sync_events(device, kind, detail) VALUES ($1, $2, $3)",
        &[&device, &kind, &detail],
    )
    .await?;
    Ok(())
}

/// Every sync event, oldest first: `(at, device, kind, detail)`, `at` in RFC 3339 (UTC, to
/// the second, as SQLite's), each handed to `each` as it is read ([`crate::each_row`]).
pub async fn each_event<E: From<Error>>(
    pool: &Pool,
    mut each: impl FnMut((String, String, String, String)) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let sql = "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                      device, kind, detail
               FROM sync_events ORDER BY id";
    crate::each_row(pool, sql, |r| {
        each((r.get(0), r.get(1), r.get(2), r.get(3)))
    })
    .await
}

/// Every sync event, oldest first, as [`each_event`] reads them.
pub async fn events(pool: &Pool) -> Result<Vec<(String, String, String, String)>> {
    let mut all = Vec::new();
    each_event(pool, |event| {
        all.push(event);
        Ok::<_, Error>(())
    })
    .await?;
    Ok(all)
}

/// A sale projected: `(device, number, id, at, total, voided)`.
pub type SaleEntry = (String, String, String, String, i64, bool);

/// Every sale projected, by device and sequence, each handed to `each` as it is read
/// ([`crate::each_row`]).
pub async fn each_sale<E: From<Error>>(
    pool: &Pool,
    mut each: impl FnMut(SaleEntry) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let sql = "SELECT s.device, s.number, s.id, s.at, s.total_fen,
                      EXISTS(SELECT 1 FROM voids v WHERE v.sale_id = s.id)
               FROM sales s ORDER BY s.device, s.seq";
    crate::each_row(pool, sql, |r| {
        each((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
    })
    .await
}
