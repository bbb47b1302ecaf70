//! What most of a ledger is, in few round trips: its records indexed by one statement per
//! batch, every column sent as an array and spread back into rows by `unnest`; its sales with
//! their lines and payments written by one binary `COPY` per table and batch (one row per
//! sale, line and payment, as SQLite's statements write them).

use std::collections::{HashMap, HashSet};
use std::pin::pin;

use deadpool_postgres::Transaction;
use fairpos_projection::rollup::{Batch, CountedSale, Prior};
use fairpos_sync::record::SaleRecord;
use fairpos_sync::Record;

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

use crate::{rollup, Error, Result};
use fairpos_projection::apply::sql::{self, postgres_params};
use fairpos_projection::apply::StockOut;

/// Indexes `records` of the ledger `doc_key` by device and sequence number. Returns, for each,
/// whether it is new; a record whose number another record already holds is an error.
pub(crate) async fn index_records(
    tx: &Transaction<'_>,
    records: &[Record],
    doc_key: &str,
) -> Result<Vec<bool>> {
    let headers: Vec<_> = records.iter().map(Record::header).collect();
    let ids: Vec<&str> = headers.iter().map(|h| h.id.as_str()).collect();
    let devices: Vec<&str> = headers.iter().map(|h| h.device.as_str()).collect();
    let seqs: Vec<i64> = headers.iter().map(|h| h.seq as i64).collect();
    let kinds: Vec<&str> = records.iter().map(Record::kind).collect();
    let ats: Vec<&str> = headers.iter().map(|h| h.at.as_str()).collect();
    let index = tx
        .prepare_cached(
            "INSERT INTO records(id, device, seq, kind, at, doc_key)
             SELECT r.id, r.device, r.seq, r.kind, r.at, $6::text
             FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[])
                  AS r(id, device, seq, kind, at)
             ON CONFLICT DO NOTHING RETURNING device, seq",
        )
        .await?;
    let mut inserted: HashSet<(String, i64)> = tx
        .query(&index, &[&ids, &devices, &seqs, &kinds, &ats, &doc_key])
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    // New: the first record of each number inserted now (a record twice in the input is
    // new once). Every other must be held under its own id (projected before): the first
    // that is not is a forgery, looked up in one statement.
    let fresh: Vec<bool> = headers
        .iter()
        .map(|h| inserted.remove(&(h.device.clone(), h.seq as i64)))
        .collect();
    let known: Vec<_> = headers.iter().zip(&fresh).filter(|(_, f)| !**f).collect();
    if !known.is_empty() {
        let ids: Vec<&str> = known.iter().map(|(h, _)| h.id.as_str()).collect();
        let devices: Vec<&str> = known.iter().map(|(h, _)| h.device.as_str()).collect();
        let seqs: Vec<i64> = known.iter().map(|(h, _)| h.seq as i64).collect();
        let forged = tx
            .query_opt(
                "SELECT k.id, k.device, k.seq, r.id
                 FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY
                      AS k(id, device, seq, ord)
                 LEFT JOIN records r ON r.device = k.device AND r.seq = k.seq
                 WHERE r.id IS DISTINCT FROM k.id ORDER BY k.ord LIMIT 1",
                &[&ids, &devices, &seqs],
            )
            .await?;
        if let Some(row) = forged {
            let (id, device, seq, held): (String, String, i64, Option<String>) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            return Err(Error::Integrity(format!(
                "record {id} of {device} reuses sequence number {seq} of record {}",
                held.as_deref().unwrap_or("being projected")
            )));
        }
    }
    Ok(fresh)
}

/// Writes the rows of new `sales`: each sale with its lines, payments and oversold SKUs.
/// What they count for is [`count_sales`]'s, under the projection lock.
pub(crate) async fn write_sales_rows(tx: &Transaction<'_>, sales: &[&SaleRecord]) -> Result<()> {
    if sales.is_empty() {
        return Ok(());
    }
    write_sales(tx, sales).await?;
    write_lines(tx, sales).await?;
    write_payments(tx, sales).await?;
    let oversold: Vec<(&SaleRecord, &str)> = sales
        .iter()
        .flat_map(|s| s.oversold.iter().map(move |sku| (*s, sku.as_str())))
        .collect();
    if !oversold.is_empty() {
        let sale_ids: Vec<&str> = oversold.iter().map(|(s, _)| s.header.id.as_str()).collect();
        let skus: Vec<&str> = oversold.iter().map(|(_, sku)| *sku).collect();
        let devices: Vec<&str> = oversold
            .iter()
            .map(|(s, _)| s.header.device.as_str())
            .collect();
        let seqs: Vec<i64> = oversold.iter().map(|(s, _)| s.sale_seq as i64).collect();
        let numbers: Vec<&str> = oversold.iter().map(|(s, _)| s.number.as_str()).collect();
        let names: Vec<Option<&str>> = oversold
            .iter()
            .map(|(s, sku)| s.oversold_name(sku))
            .collect();
        let insert = tx
            .prepare_cached(
                "INSERT INTO sale_oversold(sale_id, sku, device, seq, number, name_zh)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[],
                                      $5::text[], $6::text[])
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        tx.execute(
            &insert,
            &[&sale_ids, &skus, &devices, &seqs, &numbers, &names],
        )
        .await?;
    }
    Ok(())
}

/// Counts new `sales` (their rows written) into the roll-up `counted`, and what a sale not
/// voided took into `stock`, by the voids and refunds projected before them: run under the
/// projection lock, so that those are every one committed.
pub(crate) async fn count_sales(
    tx: &Transaction<'_>,
    sales: &[&SaleRecord],
    stock: &mut StockOut,
    counted: &mut Batch,
) -> Result<()> {
    if sales.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = sales.iter().map(|s| s.header.id.as_str()).collect();
    let priors = rollup::priors(tx, &ids).await?;
    count_known(sales, &priors, stock, counted);
    corrections_meet_their_sales(tx, sales, |id| corrected(&priors, id)).await
}

/// As the projection's: the voids and refunds projected before `sales` (those `corrected`
/// names) given their sale's till, and the refunds' lines the line sold.
pub(crate) async fn corrections_meet_their_sales(
    tx: &Transaction<'_>,
    sales: &[&SaleRecord],
    corrected: impl Fn(&str) -> bool,
) -> Result<()> {
    for r in sales.iter().filter(|r| corrected(&r.header.id)) {
        let (id, device) = (&r.header.id, &r.header.device);
        tx.execute(
            &tx.prepare_cached(&postgres_params(sql::VOID_MEETS_SALE))
                .await?,
            &[id, device],
        )
        .await?;
        tx.execute(
            &tx.prepare_cached(&postgres_params(sql::REFUND_MEETS_SALE))
                .await?,
            &[id, device],
        )
        .await?;
        let line_meets = tx
            .prepare_cached(&postgres_params(sql::REFUND_LINE_MEETS_SALE))
            .await?;
        for l in &r.lines {
            let line = l.line as i32;
            tx.execute(&line_meets, &[id, &line, &l.sku, &l.qty, &l.amount_fen])
                .await?;
        }
    }
    Ok(())
}

/// Whether a void or refund of sale `id` was projected before it.
pub(crate) fn corrected(priors: &HashMap<String, Prior>, id: &str) -> bool {
    priors
        .get(id)
        .is_some_and(|p| p.void_shift.is_some() || p.refunds_n > 0)
}

/// [`count_sales`] with the voids and refunds projected before them already read.
pub(crate) fn count_known(
    sales: &[&SaleRecord],
    priors: &HashMap<String, Prior>,
    stock: &mut StockOut,
    counted: &mut Batch,
) {
    let none = Prior::default();
    for s in sales {
        let prior = priors.get(&s.header.id).unwrap_or(&none);
        if prior.void_shift.is_none() {
            for l in &s.lines {
                stock.add(&l.sku, l.qty);
            }
        }
        counted.count(&CountedSale::from(*s), prior);
    }
}

/// Columns a binary `COPY` fills, in the order each row's values are written, with their
/// types in the schema (`TEXT`, `INTEGER` as `INT4`, `BIGINT` as `INT8`).
type Columns = [(&'static str, Type)];

const SALES: [(&str, Type); 15] = [
    ("id", Type::TEXT),
    ("device", Type::TEXT),
    ("record_seq", Type::INT8),
    ("number", Type::TEXT),
    ("seq", Type::INT8),
    ("shift_id", Type::TEXT),
    ("at", Type::TEXT),
    ("stall", Type::TEXT),
    ("seller", Type::TEXT),
    ("seller_name", Type::TEXT),
    ("team", Type::TEXT),
    ("unit_tax_id", Type::TEXT),
    ("unit_name", Type::TEXT),
    ("total_fen", Type::INT8),
    ("change_fen", Type::INT8),
];

const SALE_LINES: [(&str, Type); 16] = [
    ("sale_id", Type::TEXT),
    ("line", Type::INT4),
    ("sku", Type::TEXT),
    ("name_zh", Type::TEXT),
    ("name_en", Type::TEXT),
    ("category", Type::TEXT),
    ("unit", Type::TEXT),
    ("weighed", Type::INT4),
    ("qty", Type::INT8),
    ("unit_price_fen", Type::INT8),
    ("amount_fen", Type::INT8),
    ("county_code", Type::TEXT),
    ("county_name", Type::TEXT),
    ("product_stall", Type::TEXT),
    ("supplier", Type::TEXT),
    ("cert_no", Type::TEXT),
];

const SALE_PAYMENTS: [(&str, Type); 5] = [
    ("sale_id", Type::TEXT),
    ("idx", Type::INT4),
    ("method", Type::TEXT),
    ("amount_fen", Type::INT8),
    ("tendered_fen", Type::INT8),
];

/// Opens a binary `COPY` into `table`'s `columns`.
async fn copy_into(
    tx: &Transaction<'_>,
    table: &str,
    columns: &Columns,
) -> Result<BinaryCopyInWriter> {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let types: Vec<Type> = columns.iter().map(|(_, t)| t.clone()).collect();
    let copy = tx
        .prepare_cached(&format!(
            "COPY {table} ({}) FROM STDIN (FORMAT binary)",
            names.join(", ")
        ))
        .await?;
    let sink = tx.copy_in(&copy).await?;
    Ok(BinaryCopyInWriter::new(sink, &types))
}

async fn write_sales(tx: &Transaction<'_>, sales: &[&SaleRecord]) -> Result<()> {
    let copy = copy_into(tx, "sales", &SALES).await?;
    let mut copy = pin!(copy);
    for s in sales {
        let h = &s.header;
        let (record_seq, seq) = (h.seq as i64, s.sale_seq as i64);
        let unit_tax_id = s.unit.as_ref().map(|u| u.tax_id.as_str());
        let unit_name = s.unit.as_ref().map(|u| u.name.as_str());
        copy.as_mut()
            .write(&[
                &h.id,
                &h.device,
                &record_seq,
                &s.number,
                &seq,
                &s.shift,
                &h.at,
                &s.stall,
                &s.seller,
                &s.seller_name,
                &s.team,
                &unit_tax_id,
                &unit_name,
                &s.total_fen,
                &s.change_fen,
            ])
            .await?;
    }
    copy.finish().await?;
    Ok(())
}

async fn write_lines(tx: &Transaction<'_>, sales: &[&SaleRecord]) -> Result<()> {
    if sales.iter().all(|s| s.lines.is_empty()) {
        return Ok(());
    }
    let copy = copy_into(tx, "sale_lines", &SALE_LINES).await?;
    let mut copy = pin!(copy);
    for s in sales {
        for l in &s.lines {
            let (line, weighed) = (l.line as i32, i32::from(l.weighed));
            copy.as_mut()
                .write(&[
                    &s.header.id,
                    &line,
                    &l.sku,
                    &l.name_zh,
                    &l.name_en,
                    &l.category,
                    &l.unit,
                    &weighed,
                    &l.qty,
                    &l.unit_price_fen,
                    &l.amount_fen,
                    &l.county_code,
                    &l.county_name,
                    &l.product_stall,
                    &l.supplier,
                    &l.cert_no,
                ])
                .await?;
        }
    }
    copy.finish().await?;
    Ok(())
}

async fn write_payments(tx: &Transaction<'_>, sales: &[&SaleRecord]) -> Result<()> {
    if sales.iter().all(|s| s.payments.is_empty()) {
        return Ok(());
    }
    let copy = copy_into(tx, "sale_payments", &SALE_PAYMENTS).await?;
    let mut copy = pin!(copy);
    for s in sales {
        for (i, p) in s.payments.iter().enumerate() {
            let idx = i as i32;
            copy.as_mut()
                .write(&[
                    &s.header.id,
                    &idx,
                    &p.method,
                    &p.amount_fen,
                    &p.tendered_fen,
                ])
                .await?;
        }
    }
    copy.finish().await?;
    Ok(())
}
