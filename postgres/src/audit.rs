//! Who did what at a headquarters on PostgreSQL: the audit log every `hq serve` process and
//! every data directory naming the database writes to (the commands that changed it, the
//! logins), as a SQLite headquarters keeps it in its own database.

use crate::{Pool, Result};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor   TEXT NOT NULL,
    address TEXT NOT NULL,
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL
);
";

/// Writes what `actor` from `address` did.
pub async fn record(
    pool: &Pool,
    actor: &str,
    address: &str,
    action: &str,
    detail: &str,
) -> Result<()> {
    crate::execute(
        pool,
        "INSERT INTO audit_log(actor, address, action, detail) VALUES ($1, $2, $3, $4)",
        &[&actor, &address, &action, &detail],
    )
    .await?;
    Ok(())
}

/// The last `latest` entries (every one for `None`), oldest first: `(at, actor, address,
/// action, detail)`, `at` in RFC 3339 (UTC, to the second, as SQLite's).
pub async fn entries(
    pool: &Pool,
    latest: Option<u32>,
) -> Result<Vec<(String, String, String, String, String)>> {
    let client = pool.get().await?;
    let limit = latest.map(i64::from);
    let rows = client
        .query(
            "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    actor, address, action, detail
             FROM (SELECT * FROM audit_log ORDER BY id DESC LIMIT $1) AS latest ORDER BY id",
            &[&limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect())
}
