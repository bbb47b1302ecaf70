//! Statements at a headquarters on PostgreSQL: imported with the same checks as SQLite's
//! ([`super::import`]), in one transaction that imports of other processes wait for, and the
//! files listed for the statements page.

use sha2::{Digest, Sha256};

use super::{
    covers, flows_accounted, held_already, held_under_another_stall, Imported, StatementFile,
    HELD_FILE, HELD_LINE, INSERT_LINE, TIME,
};
use crate::Result;
use fairpos_domain::statement::{self, Provider};
use fairpos_projection::apply::sql::postgres_params;

/// The advisory lock statement imports take turns on ("stm").
pub(super) const IMPORT_LOCK: i64 = 0x73_746d;

/// Imports a statement file of `stall`'s `provider` account (the stall checked against the
/// fair's catalog already, [`super::check_stall`]). All its lines or none; the same lines
/// imported again change nothing.
pub async fn import(
    pool: &fairpos_postgres::Pool,
    name: &str,
    bytes: &[u8],
    provider: Provider,
    stall: &str,
) -> Result<Imported> {
    use fairpos_postgres::Error as Pg;
    let parsed = statement::parse(name, bytes, provider)?;
    let sha = fairpos_sync::keys::hex(&Sha256::digest(bytes));
    let mut client = pool.get().await.map_err(Pg::from)?;
    let tx = fairpos_postgres::read_committed(&mut client).await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&IMPORT_LOCK])
        .await
        .map_err(Pg::from)?;
    let held = tx
        .query_opt(&postgres_params(HELD_FILE), &[&sha])
        .await
        .map_err(Pg::from)?
        .map(|r| (r.get(0), r.get(1)));
    held_under_another_stall(name, stall, held)?;
    let (mut new, mut already) = (0, 0);
    for l in &parsed.lines {
        let held = tx
            .query_opt(
                &postgres_params(HELD_LINE),
                &[&provider.as_str(), &l.txn, &l.flow.as_str()],
            )
            .await
            .map_err(Pg::from)?
            .map(|r| (r.get(0), r.get(1), r.get(2)));
        if held_already(name, stall, l, held)? {
            already += 1;
            continue;
        }
        tx.execute(
            &postgres_params(INSERT_LINE),
            &[
                &provider.as_str(),
                &l.txn,
                &l.flow.as_str(),
                &stall,
                &l.amount.0,
                &l.at.format(TIME).to_string(),
                &l.note,
                &sha,
                &(l.line as i64),
            ],
        )
        .await
        .map_err(Pg::from)?;
        new += 1;
    }
    let (covers_from, covers_to) = covers(&parsed);
    tx.execute(
        "INSERT INTO statement_files
           (sha256, name, provider, stall, layout, encoding, lines, covers_from, covers_to,
            flows)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (sha256) DO UPDATE SET flows = excluded.flows
         WHERE statement_files.stall = excluded.stall",
        &[
            &sha,
            &name,
            &provider.as_str(),
            &stall,
            &parsed.layout.as_str(),
            &parsed.encoding,
            &(parsed.lines.len() as i64),
            &covers_from,
            &covers_to,
            &flows_accounted(&parsed),
        ],
    )
    .await
    .map_err(Pg::from)?;
    tx.commit().await.map_err(Pg::from)?;
    Ok(Imported::of(name, provider, stall, &parsed, (new, already)))
}

/// Statement files imported, oldest first.
pub async fn files(pool: &fairpos_postgres::Pool) -> Result<Vec<StatementFile>> {
    use fairpos_postgres::Error as Pg;
    let client = pool.get().await.map_err(Pg::from)?;
    let rows = client
        .query(
            "SELECT name, provider, stall, lines, COALESCE(covers_from, ''),
                    COALESCE(covers_to, ''), flows
             FROM statement_files ORDER BY imported_at, name",
            &[],
        )
        .await
        .map_err(Pg::from)?;
    Ok(rows
        .iter()
        .map(|r| StatementFile {
            name: r.get(0),
            provider: r.get(1),
            stall: r.get(2),
            lines: r.get(3),
            covers_from: r.get(4),
            covers_to: r.get(5),
            flows: r.get(6),
        })
        .collect())
}
