//! `hq statements remove`: a statement file imported by mistake (under the wrong stall, a
//! typo that names another stall of the fair) taken back, its lines and its coverage, in one
//! transaction: it could not be imported again under the right stall ("in stall S01's
//! statement already"), and it made the wrong stall's days covered.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::{Error, Hq, Result};

/// What a removal took back.
#[derive(Clone, Debug, Serialize)]
pub struct Removed {
    pub file: String,
    pub provider: String,
    pub stall: String,
    /// Lines of it headquarters held (those another file held first stay that file's).
    pub lines: u64,
    /// Files of the same account imported after it whose times overlap its own: a line
    /// they held too was counted as this file's, and is gone with it until they are
    /// imported again (which then takes it).
    pub import_again: Vec<String>,
}

const FILE: &str = "SELECT name, provider, stall FROM statement_files WHERE sha256 = ?1";
/// The other files of the removed one's account imported after it (or in its second) whose
/// coverage overlaps its own.
const OVERLAPPING: &str = "SELECT o.name FROM statement_files o
    JOIN statement_files r ON r.sha256 = ?1
    WHERE o.sha256 <> r.sha256 AND o.provider = r.provider AND o.stall = r.stall
      AND o.imported_at >= r.imported_at
      AND o.covers_from <= r.covers_to AND o.covers_to >= r.covers_from
    ORDER BY o.name";
const DELETE_LINES: &str = "DELETE FROM statement_lines WHERE file = ?1";
const DELETE_FILE: &str = "DELETE FROM statement_files WHERE sha256 = ?1";

/// Why nothing was removed: no file of that SHA-256 was imported.
fn not_imported(sha: &str) -> Error {
    Error::input(format!(
        "no statement file with SHA-256 {sha} was imported: nothing removed"
    ))
}

/// Takes back the statement file whose SHA-256 is `sha`.
pub fn remove(hq: &mut Hq, sha: &str) -> Result<Removed> {
    let tx = hq
        .conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let Some((file, provider, stall)) = tx
        .query_row(FILE, [sha], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
    else {
        return Err(not_imported(sha));
    };
    let import_again = tx
        .prepare(OVERLAPPING)?
        .query_map([sha], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let lines = tx.execute(DELETE_LINES, params![sha])? as u64;
    tx.execute(DELETE_FILE, params![sha])?;
    tx.commit()?;
    Ok(Removed {
        file,
        provider,
        stall,
        lines,
        import_again,
    })
}

/// [`remove`] on PostgreSQL, taking its turn with imports.
pub async fn remove_postgres(pool: &fairpos_postgres::Pool, sha: &str) -> Result<Removed> {
    use fairpos_postgres::Error as Pg;
    use fairpos_projection::apply::sql::postgres_params;
    let mut client = pool.get().await.map_err(Pg::from)?;
    let tx = fairpos_postgres::read_committed(&mut client).await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&super::postgres::IMPORT_LOCK],
    )
    .await
    .map_err(Pg::from)?;
    let Some(row) = tx
        .query_opt(&postgres_params(FILE), &[&sha])
        .await
        .map_err(Pg::from)?
    else {
        return Err(not_imported(sha));
    };
    let import_again = tx
        .query(&postgres_params(OVERLAPPING), &[&sha])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let lines = tx
        .execute(&postgres_params(DELETE_LINES), &[&sha])
        .await
        .map_err(Pg::from)?;
    tx.execute(&postgres_params(DELETE_FILE), &[&sha])
        .await
        .map_err(Pg::from)?;
    tx.commit().await.map_err(Pg::from)?;
    Ok(Removed {
        file: row.get(0),
        provider: row.get(1),
        stall: row.get(2),
        lines,
        import_again,
    })
}

/// The SHA-256 a statement file is kept by: `given`, a file's path (its bytes hashed), or
/// the SHA-256 itself (64 hex digits; the file may be gone).
pub fn sha_of(
    given: &str,
    read: impl FnOnce(&std::path::Path) -> Result<Vec<u8>>,
) -> Result<String> {
    use sha2::{Digest, Sha256};
    let path = std::path::Path::new(given);
    if path.is_file() {
        return Ok(fairpos_sync::keys::hex(&Sha256::digest(read(path)?)));
    }
    if given.len() == 64 && given.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(given.to_ascii_lowercase());
    }
    Err(Error::input(format!(
        "{given:?} is neither a statement file nor the SHA-256 of one"
    )))
}
