//! Sales reports over the projection in PostgreSQL: from the roll-up ([`build`]) or from
//! every sale ([`scan`], the SQL of SQLite's scan), assembled as SQLite's are, so both
//! backends give the same report to the fen.

use fairpos_projection::apply::sql::postgres_params;
use fairpos_projection::report::rolled::{RolledRow, ROWS};
use fairpos_projection::report::{assemble, scan_sql, Dimension, Report, ReportRow};

use crate::{Pool, Result};

/// Stores the fair's stalls, `(id, name, team)`, whose names label a report by stall (one
/// statement; a stall already there takes the name and team given).
pub async fn put_stalls(pool: &Pool, stalls: &[(String, String, String)]) -> Result<()> {
    let column = |f: fn(&(String, String, String)) -> &String| -> Vec<&str> {
        stalls.iter().map(|s| f(s).as_str()).collect()
    };
    let (ids, names, teams) = (column(|s| &s.0), column(|s| &s.1), column(|s| &s.2));
    crate::execute(
        pool,
        "INSERT INTO stalls(id, name, team)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, team = excluded.team",
        &[&ids, &names, &teams],
    )
    .await?;
    Ok(())
}

/// The report `by`, read from the roll-up.
pub async fn build(pool: &Pool, by: Dimension) -> Result<Report> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let report = build_in(&tx, by).await?;
    tx.commit().await?;
    Ok(report)
}

/// [`build`] in the transaction `tx`: several reports read in one (the leaderboard's by
/// team and by seller) are of one moment.
pub async fn build_in(tx: &deadpool_postgres::Transaction<'_>, by: Dimension) -> Result<Report> {
    let statement = tx.prepare_cached(&postgres_params(ROWS)).await?;
    let rows = tx
        .query(&statement, &[&by.as_str()])
        .await?
        .iter()
        .map(|r| {
            RolledRow {
                key: r.get(0),
                label: r.get(1),
                detail: r.get(2),
                sales_fen: r.get(3),
                refunds_fen: r.get(4),
                count: r.get(5),
                qty: r.get(6),
                stall_name: r.get(7),
            }
            .into_report_row(by)
        })
        .collect();
    Ok(assemble(by, rows))
}

/// The leaderboard's reads, of one moment (one repeatable-read transaction): the reports by
/// team and by seller, and each seller's team. Read apart, a sale projected between them
/// counted for its seller and not its team.
pub async fn standings(pool: &Pool) -> Result<(Report, Report, Vec<(String, String)>)> {
    let mut client = pool.get().await?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let teams = build_in(&tx, Dimension::Team).await?;
    let sellers = build_in(&tx, Dimension::Seller).await?;
    let seller_teams = tx
        .query(fairpos_projection::rollup::SELLER_TEAMS, &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    tx.commit().await?;
    Ok((teams, sellers, seller_teams))
}

/// The report `by`, read from every sale (what [`build`] answers without).
pub async fn scan(pool: &Pool, by: Dimension) -> Result<Report> {
    let client = pool.get().await?;
    let rows = client
        .query(&scan_sql(by), &[])
        .await?
        .iter()
        .map(|r| {
            let (sales, refunds): (i64, i64) = (r.get(2), r.get(3));
            ReportRow {
                key: r.get(0),
                label: r.get(1),
                net_fen: sales - refunds,
                sales_fen: sales,
                refunds_fen: refunds,
                count: r.get(4),
                // A quantity for a product only, as on SQLite.
                qty: if by == Dimension::Product {
                    r.get(5)
                } else {
                    None
                },
                qty_unit: if by == Dimension::Product {
                    r.get(6)
                } else {
                    None
                },
            }
        })
        .collect();
    Ok(assemble(by, rows))
}
