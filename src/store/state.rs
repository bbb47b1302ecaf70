//! What a till keeps in memory between sales: its open shift, its sequence numbers, its
//! sellers and units, and the stock on hand. Loaded from the database when the store opens
//! (the data directory is locked to one process, so nobody else changes it), updated as
//! records are written, and reloaded whenever a write fails or changes what it cannot follow.

use std::collections::HashMap;

use fairpos_sync::Record;
use rusqlite::Connection;

use crate::error::Result;
use fairpos_domain::sale::{Seller, Unit};
use fairpos_projection::catalog;
use fairpos_projection::queries::{self, OpenShift};

#[derive(Clone, Debug, Default)]
pub struct TillState {
    pub shift: Option<OpenShift>,
    pub last_sale_seq: u64,
    pub last_sale_number: Option<String>,
    pub last_record_seq: u64,
    pub sellers: HashMap<String, Seller>,
    pub units: HashMap<String, Unit>,
    /// Stock on hand by SKU: pieces, or grams for weighed goods.
    pub stock: HashMap<String, i64>,
}

impl TillState {
    /// Reads the state of `device` from a database whose projection is complete.
    pub fn load(conn: &Connection, device: &str) -> Result<TillState> {
        let last = queries::last_sale(conn, device)?;
        let last_record_seq: Option<i64> = conn.query_row(
            "SELECT MAX(seq) FROM records WHERE device = ?1",
            [device],
            |r| r.get(0),
        )?;
        Ok(TillState {
            shift: queries::open_shift(conn, device)?,
            last_sale_seq: last.as_ref().map_or(0, |(s, _)| *s),
            last_sale_number: last.map(|(_, n)| n),
            last_record_seq: last_record_seq.unwrap_or(0) as u64,
            sellers: catalog::sellers(conn)?
                .into_iter()
                .map(|s| (s.id.clone(), s))
                .collect(),
            units: catalog::units(conn)?
                .into_iter()
                .map(|u| (u.tax_id.clone(), u))
                .collect(),
            stock: catalog::rows(conn)?
                .into_iter()
                .map(|r| (r.product.sku, r.stock))
                .collect(),
        })
    }

    /// Follows a record this till has just written. Voids and refunds move stock in ways
    /// only the tables know; the writer reloads the state after those.
    pub fn observe(&mut self, record: &Record) {
        self.last_record_seq = self.last_record_seq.max(record.header().seq);
        match record {
            Record::ShiftOpen(r) => {
                self.shift = Some(OpenShift {
                    id: r.shift.clone(),
                    seller: r.seller.clone(),
                    opened_at: r.header.at.clone(),
                    float: fairpos_domain::Fen(r.float_fen),
                })
            }
            Record::ShiftClose(_) => self.shift = None,
            Record::Sale(r) => {
                self.last_sale_seq = r.sale_seq;
                self.last_sale_number = Some(r.number.clone());
                for l in &r.lines {
                    *self.stock.entry(l.sku.clone()).or_insert(0) -= l.qty;
                }
            }
            Record::ProductAdd(r) => {
                self.stock
                    .entry(r.product.sku.clone())
                    .or_insert(r.product.stock);
            }
            Record::CashMove(_) | Record::Void(_) | Record::Refund(_) => {}
        }
    }

    pub fn stock_of(&self, sku: &str) -> i64 {
        self.stock.get(sku).copied().unwrap_or(0)
    }
}
