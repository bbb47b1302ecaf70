//! The dashboard's accounts and sessions, and the big screen's tokens, in PostgreSQL, shared by every `hq serve` process:
//! SQLite's tables (`hq/src/accounts.rs`, `hq/src/sessions.rs`), times as `timestamptz`.
//! Password hashes are made and checked by the caller (Argon2, off the async workers); this
//! keeps only hashes of passwords and session tokens.

use crate::{Pool, Result};

/// The schema of migration 4.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    name          TEXT COLLATE \"C\" PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('organizer', 'stall-lead', 'unit')),
    scope         TEXT,                 -- the stall or the unit's credit code
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    peer       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen  TIMESTAMPTZ NOT NULL DEFAULT now(),
    account    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_account ON sessions (account);
CREATE TABLE IF NOT EXISTS screen_tokens (
    id         TEXT PRIMARY KEY,        -- short, printed, for revoking
    token_hash TEXT NOT NULL UNIQUE,
    label      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ
);
";

/// An account's role, its scope (a stall, a unit's credit code) and its password's hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub role: String,
    pub scope: Option<String>,
    pub password_hash: String,
}

/// An account as `hq user list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub role: String,
    pub scope: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub sessions: i64,
}

/// How long sessions live, in seconds: without use, and since login.
#[derive(Clone, Copy, Debug)]
pub struct Lifetimes {
    pub idle_s: f64,
    pub absolute_s: f64,
    /// A use is written only when the last one written is older than this.
    pub stale_s: f64,
}

/// Adds an account; `false` when there is one of that name already.
pub async fn add(pool: &Pool, name: &str, stored: &Stored) -> Result<bool> {
    let n = crate::execute(
        pool,
        "INSERT INTO accounts(name, role, scope, password_hash) VALUES ($1, $2, $3, $4)
             ON CONFLICT(name) DO NOTHING",
        &[&name, &stored.role, &stored.scope, &stored.password_hash],
    )
    .await?;
    Ok(n > 0)
}

/// Every account, by name.
pub async fn list(pool: &Pool) -> Result<Vec<Listed>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT a.name, a.role, a.scope,
                    to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    (SELECT COUNT(*) FROM sessions s WHERE s.account = a.name)
             FROM accounts a ORDER BY a.name",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Listed {
            name: r.get(0),
            role: r.get(1),
            scope: r.get(2),
            created_at: r.get(3),
            sessions: r.get(4),
        })
        .collect())
}

/// What a login is checked against.
pub async fn stored(pool: &Pool, name: &str) -> Result<Option<Stored>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT role, scope, password_hash FROM accounts WHERE name = $1",
            &[&name],
        )
        .await?;
    Ok(row.map(|r| Stored {
        role: r.get(0),
        scope: r.get(1),
        password_hash: r.get(2),
    }))
}

/// Sets an account's password hash and ends its sessions: how many; `None` for no account.
pub async fn set_password(pool: &Pool, name: &str, password_hash: &str) -> Result<Option<u64>> {
    let mut client = pool.get().await?;
    let tx = crate::read_committed(&mut client).await?;
    let n = tx
        .execute(
            "UPDATE accounts SET password_hash = $2 WHERE name = $1",
            &[&name, &password_hash],
        )
        .await?;
    if n == 0 {
        return Ok(None);
    }
    let ended = tx
        .execute("DELETE FROM sessions WHERE account = $1", &[&name])
        .await?;
    tx.commit().await?;
    Ok(Some(ended))
}

/// What became of a removal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    Removed,
    NoAccount,
    /// The last organizer stays.
    LastOrganizer,
}

/// Removes an account and ends its sessions. Two removals at once take turns on the
/// organizers' rows, so the last organizer is never removed.
pub async fn remove(pool: &Pool, name: &str) -> Result<Removal> {
    let mut client = pool.get().await?;
    let tx = crate::read_committed(&mut client).await?;
    let organizers: Vec<String> = tx
        .query(
            "SELECT name FROM accounts WHERE role = 'organizer' FOR UPDATE",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // FOR UPDATE: a login opening a session (`FOR SHARE` on this row) finishes first, and
    // its session is ended below, or waits and finds no account. Unlocked, a session opened
    // between the two deletes outlived the account, and a name added again took it up.
    let Some(role) = tx
        .query_opt(
            "SELECT role FROM accounts WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .await?
        .map(|r| r.get::<_, String>(0))
    else {
        return Ok(Removal::NoAccount);
    };
    if role == "organizer" && organizers.len() == 1 {
        return Ok(Removal::LastOrganizer);
    }
    tx.execute("DELETE FROM sessions WHERE account = $1", &[&name])
        .await?;
    tx.execute("DELETE FROM accounts WHERE name = $1", &[&name])
        .await?;
    tx.commit().await?;
    Ok(Removal::Removed)
}

/// Records a new session of `account` while its password is still `password_hash`, the
/// one its login checked: a password changed (its sessions ended) or an account removed
/// during the check opens none. Whether it opened one.
pub async fn open_session(
    pool: &Pool,
    token_hash: &str,
    peer: &str,
    account: &str,
    password_hash: &str,
) -> Result<bool> {
    let opened = crate::execute(
        pool,
        // FOR SHARE: a password change under way is waited for, and its new hash read; a
        // plain read took the old one while the change's DELETE of the sessions had run.
        "INSERT INTO sessions(token_hash, peer, account)
         SELECT $1, $2, name FROM accounts WHERE name = $3 AND password_hash = $4 FOR SHARE",
        &[&token_hash, &peer, &account, &password_hash],
    )
    .await?;
    Ok(opened == 1)
}

/// The peer, account name, role and scope of a live session, its use recorded when
/// `record_use` (an open screen or socket looking again is no use); a session that has
/// expired, or whose account is gone, is refused, and left to [`sweep_sessions`].
pub async fn live_session(
    pool: &Pool,
    token_hash: &str,
    lifetimes: Lifetimes,
    record_use: bool,
) -> Result<Option<(String, String, String, Option<String>)>> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT s.peer, s.account, a.role, a.scope,
                    now() - s.created_at < make_interval(secs => $2)
                        AND now() - s.last_seen < make_interval(secs => $3),
                    now() - s.last_seen >= make_interval(secs => $4)
             FROM sessions s LEFT JOIN accounts a ON a.name = s.account
             WHERE s.token_hash = $1",
        )
        .await?;
    let row = client
        .query_opt(
            &statement,
            &[
                &token_hash,
                &lifetimes.absolute_s,
                &lifetimes.idle_s,
                &lifetimes.stale_s,
            ],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let role: Option<String> = row.get(2);
    let (Some(role), true) = (role, row.get::<_, bool>(4)) else {
        return Ok(None);
    };
    if record_use && row.get::<_, bool>(5) {
        client
            .execute(
                "UPDATE sessions SET last_seen = now() WHERE token_hash = $1",
                &[&token_hash],
            )
            .await?;
    }
    Ok(Some((row.get(0), row.get(1), role, row.get(3))))
}

/// What a swept session's audit entry says of why it ended, each after "dashboard: ".
pub struct EndedBecause<'a> {
    /// Its lifetime is over.
    pub lifetime: &'a str,
    /// It was unused for its idle time.
    pub idle: &'a str,
    /// Its account was removed.
    pub removed: &'a str,
}

/// Removes every session that has ended under `lifetimes` (expired, or its account
/// removed), each written in the audit log (`action`, the actor its account, the address
/// `local`) in the same statement: a session two processes sweep at once is removed, and
/// written, by one of them. How many. The statement runs read committed, as every audit
/// entry is written (the chain's trigger sees the entry committed before it), and only
/// when a session has ended: a sweep with nothing to do takes no lock on the log.
pub async fn sweep_sessions(
    pool: &Pool,
    lifetimes: Lifetimes,
    action: &str,
    why: EndedBecause<'_>,
) -> Result<u64> {
    const ENDED: &str = "now() - s.created_at >= make_interval(secs => $1)
         OR now() - s.last_seen >= make_interval(secs => $2)
         OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.name = s.account)";
    let mut client = pool.get().await?;
    let any = format!("SELECT EXISTS (SELECT 1 FROM sessions s WHERE {ENDED})");
    let limits: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
        [&lifetimes.absolute_s, &lifetimes.idle_s];
    if !client.query_one(&any, &limits).await?.get::<_, bool>(0) {
        return Ok(0);
    }
    let tx = crate::read_committed(&mut client).await?;
    let swept = tx
        .execute(
            &format!(
                "WITH gone AS (
                     DELETE FROM sessions s WHERE {ENDED}
                     RETURNING s.account, s.created_at,
                         EXISTS (SELECT 1 FROM accounts a WHERE a.name = s.account) AS kept,
                         now() - s.created_at >= make_interval(secs => $1) AS over
                 )
                 INSERT INTO audit_log(at, actor, address, action, detail)
                 SELECT now(), account, 'local', $3, 'dashboard: ' ||
                     CASE WHEN NOT kept THEN $6 WHEN over THEN $4 ELSE $5 END
                 FROM gone ORDER BY created_at"
            ),
            &[
                &lifetimes.absolute_s,
                &lifetimes.idle_s,
                &action,
                &why.lifetime,
                &why.idle,
                &why.removed,
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(swept)
}

/// Ends the session of `token_hash`.
pub async fn end_session(pool: &Pool, token_hash: &str) -> Result<()> {
    crate::execute(
        pool,
        "DELETE FROM sessions WHERE token_hash = $1",
        &[&token_hash],
    )
    .await?;
    Ok(())
}

/// Ends every session of every account; how many there were.
pub async fn end_all(pool: &Pool) -> Result<u64> {
    let client = pool.get().await?;
    Ok(client.execute("DELETE FROM sessions", &[]).await?)
}

/// Keeps a new big-screen token (its hash) under `id`, labelled `label`.
pub async fn screen_token_issue(pool: &Pool, id: &str, hash: &str, label: &str) -> Result<()> {
    crate::execute(
        pool,
        "INSERT INTO screen_tokens(id, token_hash, label) VALUES ($1, $2, $3)",
        &[&id, &hash, &label],
    )
    .await?;
    Ok(())
}

/// Whether the big-screen token whose hash is `hash` was issued and not revoked.
pub async fn screen_token_valid(pool: &Pool, hash: &str) -> Result<bool> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM screen_tokens
                           WHERE token_hash = $1 AND revoked_at IS NULL)",
        )
        .await?;
    Ok(client.query_one(&statement, &[&hash]).await?.get(0))
}

/// Revokes the big-screen token `id`; `false` when none such is in use.
pub async fn screen_token_revoke(pool: &Pool, id: &str) -> Result<bool> {
    let n = crate::execute(
        pool,
        "UPDATE screen_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        &[&id],
    )
    .await?;
    Ok(n > 0)
}

/// Every big-screen token: `(id, label, created at (RFC 3339, UTC), revoked)`.
pub async fn screen_tokens(pool: &Pool) -> Result<Vec<(String, String, String, bool)>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT id, label,
                    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    revoked_at IS NOT NULL
             FROM screen_tokens ORDER BY created_at, id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect())
}
