//! Ledger records projected into SQL tables (see `schema.sql`). The same code serves a till
//! (its own ledger) and headquarters (every till's), so it is order-tolerant: a void or a
//! refund may be applied before the sale it names, as happens when documents of different
//! days arrive out of order.
//!
//! A till writes a sale's ledger change alone in the sale's durable transaction, and projects
//! it with [`apply`] just after the sale is acknowledged; a rebuild from the ledger restores
//! the rows if they are ever lost.

use fairpos_sync::record::{
    CashMoveRecord, Header, ProductAddRecord, RefundRecord, SaleRecord, ShiftCloseRecord,
    ShiftOpenRecord, VoidRecord,
};
use std::collections::{BTreeMap, HashSet};

use fairpos_sync::Record;
use rusqlite::{params, CachedStatement, Connection, OptionalExtension};

use crate::{catalog, Error, Result};

/// Applies one record from the document `doc_key`. Returns `false` when the record was
/// already projected. A record that reuses another record's device and sequence number is
/// refused: that is a forged or corrupted ledger.
pub fn apply(conn: &Connection, record: &Record, doc_key: &str) -> Result<bool> {
    let mut stock = StockOut::default();
    let mut inserts = Inserts::prepare(conn)?;
    let applied = apply_with(conn, &mut inserts, record, doc_key, &mut stock, None)?;
    stock.write(conn)?;
    Ok(applied)
}

/// [`apply`] for one of a batch of records: what it takes out of stock (or brings back) is
/// added to `stock`, for the caller to write once for the batch; it is written with
/// `inserts`; and its sales are looked up among the voids only when `named` names them
/// (each void or refund is noted in it).
pub fn apply_in_batch(
    conn: &Connection,
    inserts: &mut Inserts,
    record: &Record,
    doc_key: &str,
    stock: &mut StockOut,
    named: &mut NamedSales,
) -> Result<bool> {
    apply_with(conn, inserts, record, doc_key, stock, Some(named))
}

/// The statements every record, and every sale, is written with: prepared once for a batch
/// of records rather than looked up in the connection's cache at each use (which hashes the
/// statement's text: about a twentieth of a cold projection's SQL thread, by a profile).
pub struct Inserts<'c> {
    record: CachedStatement<'c>,
    sale: CachedStatement<'c>,
    line: CachedStatement<'c>,
    payment: CachedStatement<'c>,
}

impl<'c> Inserts<'c> {
    pub fn prepare(conn: &'c Connection) -> Result<Inserts<'c>> {
        Ok(Inserts {
            record: conn.prepare_cached(sql::INSERT_RECORD)?,
            sale: conn.prepare_cached(sql::SALE)?,
            line: conn.prepare_cached(sql::SALE_LINE)?,
            payment: conn.prepare_cached(sql::SALE_PAYMENT)?,
        })
    }
}

fn apply_with(
    conn: &Connection,
    inserts: &mut Inserts,
    record: &Record,
    doc_key: &str,
    stock: &mut StockOut,
    named: Option<&mut NamedSales>,
) -> Result<bool> {
    if !insert_record(conn, &mut inserts.record, record, doc_key)? {
        return Ok(false);
    }
    match record {
        Record::ShiftOpen(r) => shift_open(conn, r),
        Record::CashMove(r) => cash_move(conn, r),
        Record::Sale(r) => {
            let maybe_voided = named.is_none_or(|named| named.may_name(&r.header.id));
            apply_sale_head(conn, &mut inserts.sale, r)?;
            sale_rest(conn, inserts, r, stock, maybe_voided)
        }
        Record::Void(r) => {
            if let Some(named) = named {
                named.note(&r.sale);
            }
            void(conn, r, stock)
        }
        Record::Refund(r) => {
            if let Some(named) = named {
                named.note(&r.sale);
            }
            refund(conn, r, stock)
        }
        Record::ShiftClose(r) => shift_close(conn, r),
        // A new product's stock on hand is counted from `stock_out`: what is summed goes
        // there first.
        Record::ProductAdd(r) => stock.write(conn).and_then(|_| product_add(conn, r)),
    }?;
    Ok(true)
}

/// The sales of a batch of records that a void or a refund may have reached before them:
/// those a void or refund already projected names, read in one query for the batch, and
/// those a void or refund applied since names ([`apply_in_batch`] notes them). A sale named
/// by neither needs no look-up of its void or refunds: in a day's ledger projected from cold,
/// that is almost every sale, and looking each up was two statements per sale.
#[derive(Debug, Default)]
pub struct NamedSales(HashSet<String>);

impl NamedSales {
    /// Those sales of `records` a void or refund projected names.
    pub fn projected(conn: &Connection, records: &[Record]) -> Result<NamedSales> {
        let ids: Vec<&str> = records
            .iter()
            .filter_map(|r| match r {
                Record::Sale(sale) => Some(sale.header.id.as_str()),
                _ => None,
            })
            .collect();
        if ids.is_empty() {
            return Ok(NamedSales::default());
        }
        // The ids as a JSON array, walked in order, each looked up by the index of the
        // table: SQLite's CROSS JOIN keeps that order.
        let named = conn
            .prepare_cached(
                "SELECT v.sale_id FROM json_each(?1) AS j CROSS JOIN voids AS v
                   ON v.sale_id = j.value
                 UNION
                 SELECT r.sale_id FROM json_each(?1) AS j CROSS JOIN refunds AS r
                   ON r.sale_id = j.value",
            )?
            .query_map([serde_json::Value::from(ids).to_string()], |row| row.get(0))?
            .collect::<rusqlite::Result<HashSet<String>>>()?;
        Ok(NamedSales(named))
    }

    /// Whether a void or refund, projected before the batch or applied in it since, may
    /// name `sale`.
    pub fn may_name(&self, sale: &str) -> bool {
        self.0.contains(sale)
    }

    fn note(&mut self, sale: &str) {
        self.0.insert(sale.to_owned());
    }
}

/// Quantity gone out per SKU (sold, less voided and refunded), summed until written: one
/// upsert per SKU for a ledger's records instead of one per sale line.
#[derive(Default)]
pub struct StockOut(BTreeMap<String, i64>);

impl StockOut {
    pub fn add(&mut self, sku: &str, qty: i64) {
        match self.0.get_mut(sku) {
            Some(sum) => *sum += qty,
            None => {
                self.0.insert(sku.to_owned(), qty);
            }
        }
    }

    /// The sums, in SKU order (some may be nought).
    pub fn summed(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(sku, &qty)| (sku.as_str(), qty))
    }

    /// Adds the sums to `stock_out`, in SKU order, and starts again from nothing. Every SKU
    /// touched gets its row, as when each line was added on its own.
    pub fn write(&mut self, conn: &Connection) -> Result<()> {
        let mut add = conn.prepare_cached(sql::ADD_STOCK_OUT)?;
        for (sku, qty) in std::mem::take(&mut self.0) {
            add.execute(params![sku, qty])?;
        }
        Ok(())
    }
}

/// A product added at a till: into the catalog tables if its SKU is new there. (Outside the
/// projected tables: at headquarters the catalog document decides.)
fn product_add(conn: &Connection, r: &ProductAddRecord) -> Result<()> {
    catalog::insert_new_product(conn, r.product.clone().into())?;
    Ok(())
}

/// Indexes a record by device and sequence number; `false` if it is indexed already.
fn insert_record(
    conn: &Connection,
    insert: &mut CachedStatement,
    record: &Record,
    doc_key: &str,
) -> Result<bool> {
    let h = record.header();
    let inserted = insert.execute(params![
        h.id,
        h.device,
        h.seq as i64,
        record.kind(),
        h.at,
        doc_key
    ])?;
    if inserted == 0 {
        let known: String = conn
            .prepare_cached(sql::RECORD_AT)?
            .query_row(params![h.device, h.seq as i64], |r| r.get(0))?;
        if known != h.id {
            return Err(Error::Integrity(format!(
                "record {} of {} reuses sequence number {} of record {known}",
                h.id, h.device, h.seq
            )));
        }
        return Ok(false);
    }
    Ok(true)
}

fn shift_open(conn: &Connection, r: &ShiftOpenRecord) -> Result<()> {
    // A close may have been applied first (out of order at HQ): keep its columns.
    let written = conn.prepare_cached(sql::SHIFT_OPEN)?.execute(params![
        r.shift,
        r.header.device,
        r.seller,
        r.header.at,
        r.float_fen
    ])?;
    own_shift(conn, written, &r.header, &r.shift)
}

/// Refuses a shift's opening or closing (the record `h`) that no row took, as the shift is
/// another till's: a till opens and closes its own shifts only, so the record is forged
/// (it had overwritten the other till's cash-up).
fn own_shift(conn: &Connection, written: usize, h: &Header, shift: &str) -> Result<()> {
    if written > 0 {
        return Ok(());
    }
    let whose: String = conn
        .prepare_cached(sql::SHIFT_DEVICE)?
        .query_row([shift], |r| r.get(0))?;
    Err(Error::Integrity(foreign_shift(
        &h.id, &h.device, shift, &whose,
    )))
}

/// Why a record opening or closing another till's shift is refused.
pub fn foreign_shift(id: &str, device: &str, shift: &str, whose: &str) -> String {
    format!("record {id} of {device} opens or closes shift {shift}, which is {whose}'s")
}

fn shift_close(conn: &Connection, r: &ShiftCloseRecord) -> Result<()> {
    let written = conn.prepare_cached(sql::SHIFT_CLOSE)?.execute(params![
        r.shift,
        r.header.device,
        r.header.at,
        r.expected_fen,
        r.counted_fen,
        r.variance_fen,
        r.last_sale,
        r.last_sale_seq as i64
    ])?;
    own_shift(conn, written, &r.header, &r.shift)
}

fn cash_move(conn: &Connection, r: &CashMoveRecord) -> Result<()> {
    conn.prepare_cached(sql::CASH_MOVE)?.execute(params![
        r.header.id,
        r.header.device,
        r.shift,
        r.header.at,
        r.amount_fen,
        r.reason
    ])?;
    Ok(())
}

/// The numbered row of a sale. Where sales are indexed by their id, once (at headquarters),
/// a sale whose id another's holds is refused.
fn apply_sale_head(conn: &Connection, insert: &mut CachedStatement, r: &SaleRecord) -> Result<()> {
    let inserted = insert.execute(params![
        r.header.id,
        r.header.device,
        r.header.seq as i64,
        r.number,
        r.sale_seq as i64,
        r.shift,
        r.header.at,
        r.stall,
        r.seller,
        r.seller_name,
        r.team,
        r.unit.as_ref().map(|u| &u.tax_id),
        r.unit.as_ref().map(|u| &u.name),
        r.total_fen,
        r.change_fen
    ]);
    match inserted {
        Err(e) if is_unique_violation(&e, "sales.id") => {
            let made_by = made_by(conn, &r.header.id, &r.header.device)?;
            let made_by = made_by.as_deref().unwrap_or("another till");
            Err(Error::Integrity(sale_id_taken(
                &r.header.id,
                &r.header.device,
                made_by,
            )))
        }
        inserted => Ok(inserted.map(drop)?),
    }
}

/// Whether `e` is SQLite's refusal of a second row with the value of a unique `column`
/// (`table.column`).
fn is_unique_violation(e: &rusqlite::Error, column: &str) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, Some(message)) => {
            f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE && message.ends_with(column)
        }
        _ => false,
    }
}

/// Why a sale whose id a sale of another till holds is refused (a till makes its ids,
/// UUIDs, itself: one held twice is copied, from a receipt, say).
fn sale_id_taken(id: &str, device: &str, made_by: &str) -> String {
    format!("sale {id} of {device} has the id of a sale {made_by} made")
}

/// What headquarters says of a projection whose sales already hold `id` twice, when sales
/// were to be indexed by id once (SQLite at open, PostgreSQL's migration 16).
pub fn sale_held_twice(id: &str) -> String {
    format!(
        "warning: sale {id} is held by two sales (one of them copied by another till): sales \
         are indexed by id as before, and a sale that copies another's id is not refused"
    )
}

/// The rest of a sale's rows; its void and refunds looked up only when `maybe_voided`, and
/// given the sale's till and lines when there are any.
fn sale_rest(
    conn: &Connection,
    inserts: &mut Inserts,
    r: &SaleRecord,
    stock: &mut StockOut,
    maybe_voided: bool,
) -> Result<()> {
    let (voided, refunded) = if maybe_voided {
        conn.prepare_cached(sql::SALE_CORRECTED)?
            .query_row([&r.header.id], |row| Ok((row.get(0)?, row.get(1)?)))?
    } else {
        (false, false)
    };
    if voided || refunded {
        corrections_meet_their_sale(conn, r)?;
    }
    for l in &r.lines {
        inserts.line.execute(params![
            r.header.id,
            l.line,
            l.sku,
            l.name_zh,
            l.name_en,
            l.category,
            l.unit,
            l.weighed,
            l.qty,
            l.unit_price_fen,
            l.amount_fen,
            l.county_code,
            l.county_name,
            l.product_stall,
            l.supplier,
            l.cert_no
        ])?;
        if !voided {
            stock.add(&l.sku, l.qty);
        }
    }
    for (i, p) in r.payments.iter().enumerate() {
        inserts.payment.execute(params![
            r.header.id,
            i as i64,
            p.method,
            p.amount_fen,
            p.tendered_fen
        ])?;
    }
    for sku in &r.oversold {
        conn.prepare_cached(sql::SALE_OVERSOLD)?.execute(params![
            r.header.id,
            sku,
            r.header.device,
            r.sale_seq as i64,
            r.number,
            r.oversold_name(sku)
        ])?;
    }
    Ok(())
}

/// The voids and refunds projected before sale `r` given its till, and the refunds' lines the
/// line sold.
fn corrections_meet_their_sale(conn: &Connection, r: &SaleRecord) -> Result<()> {
    let (id, device) = (&r.header.id, &r.header.device);
    conn.prepare_cached(sql::VOID_MEETS_SALE)?
        .execute(params![id, device])?;
    conn.prepare_cached(sql::REFUND_MEETS_SALE)?
        .execute(params![id, device])?;
    let mut line_meets = conn.prepare_cached(sql::REFUND_LINE_MEETS_SALE)?;
    for l in &r.lines {
        line_meets.execute(params![id, l.line, l.sku, l.qty, l.amount_fen])?;
    }
    Ok(())
}

/// The till that made `sale`, when it is projected (`device` first, where two did).
fn made_by(conn: &Connection, sale: &str, device: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(sql::SALE_DEVICE)?
        .query_row([sale, device], |r| r.get(0))
        .optional()?)
}

/// Refuses a void (the record `id`) of `device` that names a sale another till made,
/// when that sale is projected already: a sale is voided at its own till only, so such a
/// void is forged. (One projected before its sale, and a refund at another till, which no
/// till writes either, are taken and listed as doubtful at headquarters.) The till that
/// made the sale, if it is projected.
fn own_sale(conn: &Connection, id: &str, device: &str, sale: &str) -> Result<Option<String>> {
    match made_by(conn, sale, device)? {
        Some(made_by) if made_by != device => {
            Err(Error::Integrity(foreign_sale(id, device, sale, &made_by)))
        }
        made_by => Ok(made_by),
    }
}

/// Why a void naming another till's sale is refused.
pub fn foreign_sale(id: &str, device: &str, sale: &str, made_by: &str) -> String {
    format!("void {id} of {device} names sale {sale}, which {made_by} made")
}

fn void(conn: &Connection, r: &VoidRecord, stock: &mut StockOut) -> Result<()> {
    let sale_device = own_sale(conn, &r.header.id, &r.header.device, &r.sale)?;
    conn.prepare_cached(sql::VOID)?.execute(params![
        r.header.id,
        r.header.device,
        r.sale,
        r.shift,
        r.header.at,
        r.reason,
        sale_device
    ])?;
    // Goods come back; if the sale is not projected yet, it will see the void and not count.
    let lines: Vec<(String, i64)> = conn
        .prepare_cached(sql::SALE_LINES_STOCK)?
        .query_map([&r.sale], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (sku, qty) in lines {
        stock.add(&sku, -qty);
    }
    Ok(())
}

fn refund(conn: &Connection, r: &RefundRecord, stock: &mut StockOut) -> Result<()> {
    let sale_device = made_by(conn, &r.sale, &r.header.device)?;
    conn.prepare_cached(sql::REFUND)?.execute(params![
        r.header.id,
        r.header.device,
        r.number,
        r.sale,
        r.shift,
        r.header.at,
        r.method,
        r.amount_fen,
        sale_device
    ])?;
    for l in &r.lines {
        // The line sold, when the sale is projected (and has it).
        let sold: Option<(String, i64, i64)> = match sale_device {
            Some(_) => conn
                .prepare_cached(sql::LINE_SOLD)?
                .query_row(params![r.sale, l.line], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()?,
            None => None,
        };
        let (sold_sku, sold_qty, sold_fen) = match sold {
            Some((sku, qty, fen)) => (Some(sku), Some(qty), Some(fen)),
            None => (None, None, None),
        };
        conn.prepare_cached(sql::REFUND_LINE)?.execute(params![
            r.header.id,
            l.line,
            l.sku,
            l.qty,
            l.amount_fen,
            sold_sku,
            sold_qty,
            sold_fen
        ])?;
        stock.add(&l.sku, -l.qty);
    }
    Ok(())
}

pub mod sql;

#[cfg(test)]
mod tests;
