//! Sales counted into the roll-up in memory, one batch of projected records at a time, and
//! written as one row update per key touched: a ledger's thousands of sales become a few
//! dozen updates, where triggers would make fifteen per sale.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension};

use super::UPSERT;
use crate::Result;
use fairpos_sync::record::SaleRecord;

/// What the roll-up counts of a sale: its row, lines and payments as projected. Borrowed
/// from the record the projector just applied (nothing copied on the projection's path), or
/// owned when read back from the tables ([`projected_sale`]).
#[derive(Clone, Debug)]
pub struct CountedSale<'a> {
    pub id: Cow<'a, str>,
    pub device: Cow<'a, str>,
    pub seq: i64,
    pub shift: Cow<'a, str>,
    pub at: Cow<'a, str>,
    pub stall: Cow<'a, str>,
    pub seller: Cow<'a, str>,
    pub seller_name: Cow<'a, str>,
    pub team: Cow<'a, str>,
    pub unit_tax_id: Option<Cow<'a, str>>,
    pub unit_name: Option<Cow<'a, str>>,
    pub total_fen: i64,
    pub lines: Vec<CountedLine<'a>>,
    /// `(method, amount)` per payment.
    pub payments: Vec<(Cow<'a, str>, i64)>,
}

#[derive(Clone, Debug)]
pub struct CountedLine<'a> {
    pub line: i64,
    pub sku: Cow<'a, str>,
    pub name_zh: Cow<'a, str>,
    pub unit: Cow<'a, str>,
    pub weighed: bool,
    pub qty: i64,
    pub amount_fen: i64,
    pub county_code: Cow<'a, str>,
    pub county_name: Cow<'a, str>,
}

impl<'a> From<&'a SaleRecord> for CountedSale<'a> {
    fn from(r: &'a SaleRecord) -> CountedSale<'a> {
        CountedSale {
            id: r.header.id.as_str().into(),
            device: r.header.device.as_str().into(),
            seq: r.sale_seq as i64,
            shift: r.shift.as_str().into(),
            at: r.header.at.as_str().into(),
            stall: r.stall.as_str().into(),
            seller: r.seller.as_str().into(),
            seller_name: r.seller_name.as_str().into(),
            team: r.team.as_str().into(),
            unit_tax_id: r.unit.as_ref().map(|u| u.tax_id.as_str().into()),
            unit_name: r.unit.as_ref().map(|u| u.name.as_str().into()),
            total_fen: r.total_fen,
            lines: r
                .lines
                .iter()
                .map(|l| CountedLine {
                    line: i64::from(l.line),
                    sku: l.sku.as_str().into(),
                    name_zh: l.name_zh.as_str().into(),
                    unit: l.unit.as_str().into(),
                    weighed: l.weighed,
                    qty: l.qty,
                    amount_fen: l.amount_fen,
                    county_code: l.county_code.as_str().into(),
                    county_name: l.county_name.as_str().into(),
                })
                .collect(),
            payments: r
                .payments
                .iter()
                .map(|p| (p.method.as_str().into(), p.amount_fen))
                .collect(),
        }
    }
}

/// What was projected of a sale's void and refunds before the sale itself.
#[derive(Clone, Debug, Default)]
pub struct Prior {
    /// The shift of the sale's void, if it is voided.
    pub void_shift: Option<String>,
    pub refunds_n: i64,
    pub refunds_fen: i64,
    /// Per line of the sale: amount and quantity refunded.
    pub lines_back: HashMap<i64, (i64, i64)>,
}

/// What one key's roll-up row changes by.
#[derive(Clone, Debug, Default)]
pub struct Delta {
    pub label: Option<String>,
    pub detail: Option<String>,
    pub sales_fen: i64,
    pub sales_n: i64,
    pub qty: i64,
    pub refunds_fen: i64,
    pub refunds_qty: i64,
    pub refunds_n: i64,
    pub voids_n: i64,
    pub voided_fen: i64,
    pub held: i64,
    pub low: Option<i64>,
    pub high: Option<i64>,
}

/// The greater of two names, as SQLite's `MAX` compares text (byte by byte).
fn greatest(kept: &mut Option<String>, name: Option<&str>) {
    if let Some(name) = name {
        if kept.as_deref().is_none_or(|k| name > k) {
            *kept = Some(name.to_string());
        }
    }
}

impl Delta {
    fn named(&mut self, label: Option<&str>, detail: Option<&str>) -> &mut Delta {
        greatest(&mut self.label, label);
        greatest(&mut self.detail, detail);
        self
    }
}

/// The roll-up's changes for the records of one transaction, written by [`Batch::flush`]
/// before it commits.
#[derive(Default)]
pub struct Batch {
    /// By `dim`, the length of `scope`, `scope` and `key` joined with U+001F: found without
    /// allocating. The length keeps two rows apart whose texts hold U+001F themselves (a
    /// stall `S1␟V1` with seller `X`, and stall `S1` with seller `V1␟X`, were one row).
    deltas: HashMap<String, (RowKey, Delta)>,
    joined: String,
}

/// `(dim, scope, key)` of a roll-up row.
pub type RowKey = (&'static str, String, String);

impl Batch {
    fn at(&mut self, dim: &'static str, scope: &str, key: &str) -> &mut Delta {
        self.joined.clear();
        self.joined.push_str(dim);
        self.joined.push('\u{1f}');
        // The length as four characters of its bytes: no formatting in the projection's
        // hottest loop.
        let length = u32::try_from(scope.len()).unwrap_or(u32::MAX);
        self.joined.extend(length.to_le_bytes().map(char::from));
        self.joined.push_str(scope);
        self.joined.push('\u{1f}');
        self.joined.push_str(key);
        if !self.deltas.contains_key(&self.joined) {
            let row = (dim, scope.to_string(), key.to_string());
            self.deltas
                .insert(self.joined.clone(), (row, Delta::default()));
        }
        match self.deltas.get_mut(&self.joined) {
            Some((_, delta)) => delta,
            None => unreachable!("inserted above"),
        }
    }

    /// Counts `sale`, just projected on `conn`: live unless its void is already there, with
    /// the refunds of it already there.
    pub fn count_sale(&mut self, conn: &Connection, sale: &CountedSale<'_>) -> Result<()> {
        let (void_shift, refunds_n, refunds_fen): (Option<String>, i64, i64) = conn
            .prepare_cached(
                "SELECT (SELECT shift_id FROM voids WHERE sale_id = ?1), COUNT(*),
                        COALESCE(SUM(amount_fen), 0)
                 FROM refunds WHERE sale_id = ?1",
            )?
            .query_row([&*sale.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let mut prior = Prior {
            void_shift,
            refunds_n,
            refunds_fen,
            lines_back: HashMap::new(),
        };
        if refunds_n > 0 {
            let mut stmt = conn.prepare_cached(
                "SELECT rl.line, SUM(rl.amount_fen), SUM(rl.qty)
                 FROM refunds r JOIN refund_lines rl ON rl.refund_id = r.id
                 WHERE r.sale_id = ?1 GROUP BY rl.line",
            )?;
            for row in stmt.query_map([&sale.id], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))? {
                let (line, back) = row?;
                prior.lines_back.insert(line, back);
            }
        }
        self.count(sale, &prior);
        Ok(())
    }

    /// Counts `sale` given what was projected of its void and refunds before it ([`Prior`],
    /// read by the caller: one sale at a time here, many at once by another backend).
    pub fn count(&mut self, sale: &CountedSale<'_>, prior: &Prior) {
        let (void_shift, back_n, back) = (&prior.void_shift, prior.refunds_n, prior.refunds_fen);
        let live = i64::from(void_shift.is_none());
        // The first 13 characters, as SQL's SUBSTR(at, 1, 13) counts them (the scan's).
        let hour = sale
            .at
            .char_indices()
            .nth(13)
            .map_or(&*sale.at, |(end, _)| &sale.at[..end]);
        let unit = sale.unit_tax_id.as_deref().unwrap_or("individual");
        for (dim, key, label, detail) in [
            ("unit", unit, sale.unit_name.as_deref(), None),
            ("team", &sale.team, Some(&*sale.team), None),
            (
                "seller",
                &sale.seller,
                Some(&*sale.seller_name),
                Some(&*sale.team),
            ),
            ("hour", hour, None, None),
            ("stall", &sale.stall, None, None),
            ("device", &sale.device, Some(&*sale.stall), None),
        ] {
            let d = self.at(dim, "", key).named(label, detail);
            d.sales_fen += live * sale.total_fen;
            d.sales_n += live;
            d.refunds_fen += back;
        }
        let d = self.at("device", "", &sale.device);
        d.held += 1;
        d.low = Some(d.low.map_or(sale.seq, |l| l.min(sale.seq)));
        d.high = Some(d.high.map_or(sale.seq, |h| h.max(sale.seq)));
        let d = self
            .at("corrections", &sale.stall, &sale.seller)
            .named(Some(&sale.seller_name), Some(&sale.team));
        d.voids_n += 1 - live;
        d.voided_fen += (1 - live) * sale.total_fen;
        d.refunds_n += back_n;
        d.refunds_fen += back;

        // Each SKU and county counts a sale once, however many lines: sets, not a search of
        // the lines before (a forged sale of 200 000 lines took 4·10¹⁰ comparisons, holding
        // the projection).
        let (mut skus, mut counties) = (HashSet::new(), HashSet::new());
        for l in &sale.lines {
            let (back_fen, back_qty) = prior.lines_back.get(&l.line).copied().unwrap_or((0, 0));
            let unit = if l.weighed { "g" } else { &*l.unit };
            for (dim, key, label, detail, first) in [
                (
                    "product",
                    &l.sku,
                    &l.name_zh,
                    Some(unit),
                    skus.insert(&*l.sku),
                ),
                (
                    "county",
                    &l.county_code,
                    &l.county_name,
                    None,
                    counties.insert(&*l.county_code),
                ),
            ] {
                let d = self.at(dim, "", key).named(Some(label), detail);
                d.sales_fen += live * l.amount_fen;
                d.sales_n += live * i64::from(first);
                d.qty += live * l.qty;
                d.refunds_fen += back_fen;
                d.refunds_qty += back_qty;
            }
        }
        for (method, amount) in &sale.payments {
            let d = self.at("payment", "", method);
            d.sales_fen += live * amount;
            d.sales_n += live;
            if method == "cash" {
                self.at("shift", "", &sale.shift).sales_fen += amount;
                if let Some(shift) = void_shift {
                    self.at("shift", "", shift).voided_fen += amount;
                }
            }
        }
    }

    /// The changes counted so far, each row once, in key order (the order two writers lock
    /// rows in, so that they wait for each other rather than deadlock); the batch is then
    /// empty.
    pub fn drain(&mut self) -> Vec<(RowKey, Delta)> {
        let mut rows: Vec<(RowKey, Delta)> = self.deltas.drain().map(|(_, row)| row).collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    }

    /// Writes the changes counted so far into the roll-up (inside the transaction that
    /// projected the records).
    pub fn flush(&mut self, conn: &Connection) -> Result<()> {
        if self.deltas.is_empty() {
            return Ok(());
        }
        let mut upsert = conn.prepare_cached(&format!(
            "INSERT INTO rollup(dim, scope, key, label, detail, sales_fen, sales_n, qty,
                                refunds_fen, refunds_qty, refunds_n, voids_n, voided_fen, held,
                                low, high)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             {UPSERT}"
        ))?;
        for ((dim, scope, key), d) in self.drain() {
            upsert.execute(params![
                dim,
                scope,
                key,
                d.label,
                d.detail,
                d.sales_fen,
                d.sales_n,
                d.qty,
                d.refunds_fen,
                d.refunds_qty,
                d.refunds_n,
                d.voids_n,
                d.voided_fen,
                d.held,
                d.low,
                d.high
            ])?;
        }
        Ok(())
    }
}

/// The sale `id` as projected on `conn`, if it is.
pub fn projected_sale(conn: &Connection, id: &str) -> Result<Option<CountedSale<'static>>> {
    let Some(mut sale) = conn
        .prepare_cached(
            "SELECT id, device, seq, shift_id, at, stall, seller, seller_name, team,
                    unit_tax_id, unit_name, total_fen FROM sales WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(CountedSale {
                id: Cow::Owned(r.get(0)?),
                device: Cow::Owned(r.get(1)?),
                seq: r.get(2)?,
                shift: Cow::Owned(r.get(3)?),
                at: Cow::Owned(r.get(4)?),
                stall: Cow::Owned(r.get(5)?),
                seller: Cow::Owned(r.get(6)?),
                seller_name: Cow::Owned(r.get(7)?),
                team: Cow::Owned(r.get(8)?),
                unit_tax_id: r.get::<_, Option<String>>(9)?.map(Cow::Owned),
                unit_name: r.get::<_, Option<String>>(10)?.map(Cow::Owned),
                total_fen: r.get(11)?,
                lines: Vec::new(),
                payments: Vec::new(),
            })
        })
        .optional()?
    else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT line, sku, name_zh, unit, weighed, qty, amount_fen, county_code, county_name
         FROM sale_lines WHERE sale_id = ?1 ORDER BY line",
    )?;
    sale.lines = stmt
        .query_map([id], |r| {
            Ok(CountedLine {
                line: r.get(0)?,
                sku: Cow::Owned(r.get(1)?),
                name_zh: Cow::Owned(r.get(2)?),
                unit: Cow::Owned(r.get(3)?),
                weighed: r.get(4)?,
                qty: r.get(5)?,
                amount_fen: r.get(6)?,
                county_code: Cow::Owned(r.get(7)?),
                county_name: Cow::Owned(r.get(8)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT method, amount_fen FROM sale_payments WHERE sale_id = ?1 ORDER BY idx",
    )?;
    sale.payments = stmt
        .query_map([id], |r| Ok((Cow::Owned(r.get(0)?), r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(Some(sale))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows whose texts hold the separator themselves stay apart: a stall `S1␟V1` with
    /// seller `X`, and stall `S1` with seller `V1␟X`.
    #[test]
    fn rows_whose_texts_hold_the_separator_stay_apart() {
        let mut batch = Batch::default();
        batch.at("corrections", "S1\u{1f}V1", "X").voids_n += 1;
        batch.at("corrections", "S1", "V1\u{1f}X").voids_n += 2;
        assert_eq!(batch.deltas.len(), 2);
        assert_eq!(batch.at("corrections", "S1\u{1f}V1", "X").voids_n, 1);
        assert_eq!(batch.at("corrections", "S1", "V1\u{1f}X").voids_n, 2);
    }
}
