//! What reconciliation reads from a headquarters on PostgreSQL: the same SQL as SQLite's for
//! the projection and its roll-up (`?N` made `$N`), headquarters' own tables as PostgreSQL
//! holds them.

use std::collections::HashMap;

use fairpos_domain::money::Fen;
use fairpos_domain::shift::CashFlows;
use fairpos_postgres::Pool;
use fairpos_projection::apply::sql::postgres_params;
use fairpos_projection::rollup::{self, Corrections, DeviceTotals};

use super::{assemble, only_stall, Oversold, Read, Reconciliation, ShiftRow};
use super::{refused_by_till, OVERSOLD, REFUSED, SEQS, SHIFTS};
use crate::Result;

/// The reconciliation of every till (those of `stall` only, and its corrections, when given).
pub async fn reconcile(pool: &Pool, stall: Option<&str>) -> Result<Reconciliation> {
    let mut read = read(pool, stall).await?;
    if let Some(stall) = stall {
        read.keep_stall(stall);
    }
    // The numbers held are read for the tills whose numbers are not all held from one up.
    let mut held: HashMap<String, Vec<u64>> = HashMap::new();
    for totals in read.totals.iter().filter(|t| !t.gap_free()) {
        held.insert(totals.device.clone(), seqs(pool, &totals.device).await?);
    }
    let all = assemble(read, |device| Ok(held.remove(device).unwrap_or_default()))?;
    Ok(match stall {
        Some(stall) => only_stall(all, stall),
        None => all,
    })
}

async fn read(pool: &Pool, stall: Option<&str>) -> Result<Read> {
    use fairpos_postgres::Error as Pg;
    // What slips and shift closes state is read before what is held, as on SQLite: each
    // read sees what was committed before it, and a ledger projected between the two made
    // numbers stated after the sales held were read look missing (a till called
    // incomplete while the projection ran). The slips take a connection of their own,
    // given back before the next is taken (organizers' pool is small).
    let mut slips: HashMap<String, Vec<crate::slips::SlipStated>> = HashMap::new();
    for (device, shift, closed_at, upto, upto_seq) in fairpos_postgres::slips::slips(pool).await? {
        let stated = u64::try_from(upto_seq).unwrap_or(0);
        slips
            .entry(device)
            .or_default()
            .push((shift, closed_at, upto, stated));
    }
    let client = pool.get().await.map_err(Pg::from)?;
    let shifts = client
        .query(SHIFTS, &[])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| ShiftRow {
            device: r.get(0),
            id: r.get(1),
            seller: r.get(2),
            opened_at: r.get(3),
            closed_at: r.get(4),
            counted_fen: r.get(5),
            variance_fen: r.get(6),
            last_sale: r.get(7),
            last_sale_seq: r.get(8),
        })
        .collect();
    let totals = client
        .query(&postgres_params(rollup::DEVICE_TOTALS), &[])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| DeviceTotals {
            device: r.get(0),
            stall: r.get::<_, Option<String>>(1).unwrap_or_default(),
            net_fen: r.get(2),
            held: r.get::<_, i64>(3).max(0) as u64,
            low: r.get::<_, i64>(4).max(0) as u64,
            high: r.get::<_, i64>(5).max(0) as u64,
        })
        .collect();
    let devices = client
        .query("SELECT device, stall, role FROM devices", &[])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let stall_names = client
        .query("SELECT id, name FROM stalls", &[])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // As SQLite's `now_text`: RFC 3339, UTC, to the second.
    let last_seen = client
        .query(
            "SELECT device,
                    to_char(MAX(updated_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
             FROM hq_docs WHERE device IS NOT NULL AND records > 0 GROUP BY device",
            &[],
        )
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let refused = refused_by_till(
        client
            .query(REFUSED, &[])
            .await
            .map_err(Pg::from)?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2))),
    );
    let cash = client
        .query(&postgres_params(rollup::SHIFTS_CASH), &[])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| {
            let flows = CashFlows {
                float: Fen(r.get(1)),
                cash_sales: Fen(r.get(2)),
                cash_voided: Fen(r.get(3)),
                cash_refunds: Fen(r.get(4)),
                cash_in: Fen(r.get(5)),
                cash_out: Fen(r.get(6)),
            };
            (r.get(0), flows)
        })
        .collect();
    let oversold = client
        .query(OVERSOLD, &[])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| Oversold {
            device: r.get(0),
            sale: r.get(1),
            sku: r.get(2),
            name: r.get(3),
        })
        .collect();
    let corrections = client
        .query(&postgres_params(rollup::CORRECTIONS), &[&stall])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| Corrections {
            seller: r.get(0),
            name: r.get::<_, Option<String>>(1).unwrap_or_default(),
            team: r.get::<_, Option<String>>(2).unwrap_or_default(),
            voids: r.get(3),
            voided_fen: r.get(4),
            refunds: r.get(5),
            refunded_fen: r.get(6),
        })
        .collect();
    Ok(Read {
        totals,
        devices,
        stall_names,
        last_seen,
        refused,
        cash,
        shifts,
        slips,
        oversold,
        corrections,
    })
}

/// The sale numbers `device`'s sales hold, ascending.
async fn seqs(pool: &Pool, device: &str) -> Result<Vec<u64>> {
    use fairpos_postgres::Error as Pg;
    let client = pool.get().await.map_err(Pg::from)?;
    let rows = client
        .query(&postgres_params(SEQS), &[&device])
        .await
        .map_err(Pg::from)?;
    Ok(rows
        .iter()
        .filter_map(|r| u64::try_from(r.get::<_, i64>(0)).ok())
        .collect())
}
