//! A province-sized projection written straight into a headquarters database: `tills` tills
//! of `per_till` sales each, as the projection would hold them after every ledger was synced
//! (sales with one to three lines of the demo catalog, their payments, a void in every 97
//! sales, a refund of a first line in every 151, a first line sold past its stock in every
//! 499, one purchasing unit's sale in every 20, shifts of 500 sales closed with the last sale
//! they made). Ledger documents are not written: this is what reports, reconciliation, the
//! leaderboard and a unit's list read.
//!
//! Record ids are made in the order they are written, like the UUID v7 ids tills make.

use std::time::Instant;

use fairpos_domain::catalog::Product;
use fairpos_domain::demo;
use fairpos_domain::money::weighed_amount;
use fairpos_domain::SaleNumber;
use fairpos_projection::apply::sql;
use rusqlite::{params, Connection};

use crate::measure::Lcg;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const SALES_PER_SHIFT: usize = 500;
const TEAMS: usize = 250;
/// Purchasing units (credit codes made up: the projection stores what tills sent).
const UNITS: usize = 200;

/// What was written, to check the answers against.
pub struct Written {
    pub sales: usize,
    /// Sales not voided, less refunds.
    pub net_fen: i64,
    /// The unit with the most sales, and its net.
    pub unit: String,
    pub unit_net_fen: i64,
    /// Lines sold past their stock and not voided: what the reconciliation lists.
    pub oversold: usize,
}

/// A record id in writing order, shaped as a UUID.
fn ordered_id(n: u64) -> String {
    format!(
        "{:08x}-{:04x}-7000-8000-{:012x}",
        n >> 16,
        n & 0xffff,
        n.wrapping_mul(0x9e37_79b9) & 0xffff_ffff_ffff
    )
}

fn device_code(n: usize) -> String {
    format!("P{n:05}")
}

/// Writes the province into `conn` (a headquarters database, projection tables empty).
pub fn write(conn: &mut Connection, tills: usize, per_till: usize) -> BenchResult<Written> {
    let products: Vec<Product> = demo::products()?;
    let mut rng = Lcg(11);
    let mut next_id = 1u64;
    let mut id = || {
        next_id += 1;
        ordered_id(next_id)
    };
    let mut written = Written {
        sales: 0,
        net_fen: 0,
        unit: String::new(),
        unit_net_fen: 0,
        oversold: 0,
    };
    let mut unit_net = vec![0i64; UNITS];
    let start = Instant::now();
    conn.execute_batch("PRAGMA synchronous = OFF")?;
    for batch in (1..=tills).collect::<Vec<_>>().chunks(50) {
        let tx = conn.transaction()?;
        {
            let mut device_row = tx.prepare(
                "INSERT INTO devices(device, stall, role, enrolled_at)
                 VALUES (?1, ?2, 'till', '2026-11-22T00:00:00Z')",
            )?;
            let mut shift_row = tx.prepare(
                "INSERT INTO shifts(id, device, seller, opened_at, float_fen, closed_at,
                                    expected_fen, counted_fen, variance_fen, last_sale, last_sale_seq)
                 VALUES (?1, ?2, ?3, ?4, 20000, ?5, 0, 0, 0, ?6, ?7)",
            )?;
            // The rows as the projection writes them (its own statements).
            let mut sale_row = tx.prepare(sql::SALE)?;
            let mut line_row = tx.prepare(sql::SALE_LINE)?;
            let mut payment_row = tx.prepare(sql::SALE_PAYMENT)?;
            let mut void_row = tx.prepare(sql::VOID)?;
            let mut refund_row = tx.prepare(sql::REFUND)?;
            let mut refund_line_row = tx.prepare(sql::REFUND_LINE)?;
            let mut oversold_row = tx.prepare(sql::SALE_OVERSOLD)?;
            let mut seen = tx.prepare(
                "INSERT INTO hq_docs(doc_id, doc_key, device, heads, records, updated_at)
                 VALUES (?1, ?2, ?3, '', ?4, '2026-11-22T18:00:00Z')",
            )?;
            for &t in batch {
                let device = device_code(t);
                let stall = format!("S{:02}", t % 6 + 1);
                let seller = format!("V{t:05}");
                let team = format!("团队{:03}", t % TEAMS);
                device_row.execute(params![device, stall])?;
                seen.execute(params![
                    format!("bench-{device}"),
                    format!("ledger/bench/{device}"),
                    device,
                    per_till as i64
                ])?;
                let mut shift = String::new();
                for seq in 1..=per_till {
                    if (seq - 1) % SALES_PER_SHIFT == 0 {
                        shift = id();
                        let last = (seq + SALES_PER_SHIFT - 1).min(per_till);
                        shift_row.execute(params![
                            shift,
                            device,
                            seller,
                            "2026-11-22T09:00:00+08:00",
                            "2026-11-22T18:00:00+08:00",
                            SaleNumber::new(&device, last as u64).to_string(),
                            last as i64
                        ])?;
                    }
                    let sale_id = id();
                    let secs = seq * 15;
                    let at = format!(
                        "2026-11-22T{:02}:{:02}:{:02}+08:00",
                        9 + (secs / 3600) % 12,
                        (secs / 60) % 60,
                        secs % 60
                    );
                    let lines = 1 + rng.next(3);
                    let mut total = 0i64;
                    let mut first_line = (String::new(), 0i64, 0i64);
                    let mut first_name = String::new();
                    // As `apply` inserts them: the sale, then its lines and payment.
                    let mut cart = Vec::with_capacity(lines);
                    for line in 1..=lines {
                        let p = &products[rng.next(products.len())];
                        let qty = if p.weighed {
                            200 + rng.next(2000) as i64
                        } else {
                            1 + rng.next(3) as i64
                        };
                        let amount = if p.weighed {
                            weighed_amount(qty, p.price, 500).0
                        } else {
                            p.price.0 * qty
                        };
                        total += amount;
                        if line == 1 {
                            first_line = (p.sku.clone(), qty, amount);
                            first_name = p.name_zh.clone();
                        }
                        cart.push((line, p, qty, amount));
                    }
                    let unit = (seq % 20 == 0).then(|| rng.next(UNITS));
                    let method = match unit {
                        Some(_) => "on_account",
                        None => ["cash", "wechat", "alipay", "wechat"][rng.next(4)],
                    };
                    sale_row.execute(params![
                        sale_id,
                        device,
                        seq as i64 + 1,
                        SaleNumber::new(&device, seq as u64).to_string(),
                        seq as i64,
                        shift,
                        at,
                        stall,
                        seller,
                        format!("志愿者{t:05}"),
                        team,
                        unit.map(unit_code),
                        unit.map(|u| format!("采购单位{u:03}")),
                        total,
                        0
                    ])?;
                    for (line, p, qty, amount) in cart {
                        line_row.execute(params![
                            sale_id,
                            line as i64,
                            p.sku,
                            p.name_zh,
                            p.name_en,
                            p.category,
                            p.unit,
                            p.weighed,
                            qty,
                            p.price.0,
                            amount,
                            p.county_code,
                            p.county_name,
                            p.stall,
                            p.supplier,
                            p.cert_no
                        ])?;
                    }
                    payment_row.execute(params![sale_id, 0, method, total, total])?;
                    let voided = seq % 97 == 0;
                    // A line sold past the stock the till knew of, in one sale of 499.
                    if seq % 499 == 0 {
                        oversold_row.execute(params![
                            sale_id,
                            first_line.0,
                            device,
                            seq as i64,
                            SaleNumber::new(&device, seq as u64).to_string(),
                            first_name
                        ])?;
                        written.oversold += usize::from(!voided);
                    }
                    let mut net = total;
                    if voided {
                        // Each void and refund at the sale's own till, which it names.
                        let row = params![id(), device, sale_id, shift, at, "bench", device];
                        void_row.execute(row)?;
                        net = 0;
                    } else if seq % 151 == 0 {
                        let refund = id();
                        let (sku, qty, amount) = &first_line;
                        refund_row.execute(params![
                            refund,
                            device,
                            format!("{device}-R{seq:06}"),
                            sale_id,
                            shift,
                            at,
                            method,
                            amount,
                            device
                        ])?;
                        let line = params![refund, 1, sku, qty, amount, sku, qty, amount];
                        refund_line_row.execute(line)?;
                        net -= amount;
                    }
                    written.net_fen += net;
                    if let Some(u) = unit {
                        unit_net[u] += net;
                    }
                    written.sales += 1;
                }
            }
        }
        tx.commit()?;
        let done = batch.last().copied().unwrap_or(0);
        if done % 500 == 0 || done == tills {
            eprintln!(
                "  {done} tills, {} sales written ({:.0} s)",
                written.sales,
                start.elapsed().as_secs_f64()
            );
        }
    }
    // The sales were written as rows, not projected records: count them as a rebuild does.
    eprintln!("  counting them into the roll-up");
    let tx = conn.transaction()?;
    fairpos_projection::rollup::rebuild(&tx)?;
    tx.commit()?;
    conn.execute_batch("PRAGMA synchronous = FULL")?;
    let (best, net) = unit_net
        .iter()
        .enumerate()
        .max_by_key(|(_, n)| **n)
        .map(|(u, n)| (u, *n))
        .unwrap_or((0, 0));
    written.unit = unit_code(best);
    written.unit_net_fen = net;
    Ok(written)
}

/// A made-up 18-character credit code for unit `u`.
fn unit_code(u: usize) -> String {
    format!("91110000BENCH{u:05}")
}
