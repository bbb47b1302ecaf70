//! What most of a ledger is, in few round trips: its records indexed and its sales with their
//! lines, payments and oversold SKUs written by one statement each per batch, every column
//! sent as an array and spread back into rows by `unnest` (one row per sale, as SQLite's
//! statements write them).

use std::collections::HashSet;

use deadpool_postgres::Transaction;
use fairpos_projection::rollup::{Batch, CountedSale, Prior};
use fairpos_sync::record::{LineRecord, SaleRecord, UnitRef};
use fairpos_sync::Record;

use crate::{rollup, Error, Result};
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
    let mut inserted: HashSet<(String, i64)> = tx
        .query(
            "INSERT INTO records(id, device, seq, kind, at, doc_key)
             SELECT r.id, r.device, r.seq, r.kind, r.at, $6::text
             FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[])
                  AS r(id, device, seq, kind, at)
             ON CONFLICT DO NOTHING RETURNING device, seq",
            &[&ids, &devices, &seqs, &kinds, &ats, &doc_key],
        )
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

/// Writes new `sales` with their lines, payments and oversold SKUs; what a sale not voided
/// took goes into `stock`.
pub(crate) async fn sales(
    tx: &Transaction<'_>,
    sales: &[&SaleRecord],
    stock: &mut StockOut,
    counted: &mut Batch,
) -> Result<()> {
    if sales.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = sales.iter().map(|s| s.header.id.as_str()).collect();
    write_sales(tx, sales, &ids).await?;
    let priors = rollup::priors(tx, &ids).await?;
    write_lines(tx, sales).await?;
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
    write_payments(tx, sales).await?;
    let oversold: Vec<(&str, &str)> = sales
        .iter()
        .flat_map(|s| {
            s.oversold
                .iter()
                .map(|sku| (s.header.id.as_str(), sku.as_str()))
        })
        .collect();
    if !oversold.is_empty() {
        let (sale_ids, skus): (Vec<&str>, Vec<&str>) = oversold.into_iter().unzip();
        tx.execute(
            "INSERT INTO sale_oversold(sale_id, sku)
             SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
            &[&sale_ids, &skus],
        )
        .await?;
    }
    Ok(())
}

async fn write_sales(tx: &Transaction<'_>, sales: &[&SaleRecord], ids: &[&str]) -> Result<()> {
    let text = |f: fn(&SaleRecord) -> &str| -> Vec<&str> { sales.iter().map(|s| f(s)).collect() };
    let big = |f: fn(&SaleRecord) -> i64| -> Vec<i64> { sales.iter().map(|s| f(s)).collect() };
    let unit = |f: fn(&UnitRef) -> &str| -> Vec<Option<&str>> {
        sales.iter().map(|s| s.unit.as_ref().map(f)).collect()
    };
    tx.execute(
        "INSERT INTO sales(id, device, record_seq, number, seq, shift_id, at, stall, seller,
                           seller_name, team, unit_tax_id, unit_name, total_fen, change_fen)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],
                              $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                              $11::text[], $12::text[], $13::text[], $14::bigint[],
                              $15::bigint[])",
        &[
            &ids,
            &text(|s| &s.header.device),
            &big(|s| s.header.seq as i64),
            &text(|s| &s.number),
            &big(|s| s.sale_seq as i64),
            &text(|s| &s.shift),
            &text(|s| &s.header.at),
            &text(|s| &s.stall),
            &text(|s| &s.seller),
            &text(|s| &s.seller_name),
            &text(|s| &s.team),
            &unit(|u| &u.tax_id),
            &unit(|u| &u.name),
            &big(|s| s.total_fen),
            &big(|s| s.change_fen),
        ],
    )
    .await?;
    Ok(())
}

async fn write_lines(tx: &Transaction<'_>, sales: &[&SaleRecord]) -> Result<()> {
    let lines: Vec<(&str, &LineRecord)> = sales
        .iter()
        .flat_map(|s| s.lines.iter().map(|l| (s.header.id.as_str(), l)))
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    let text =
        |f: fn(&LineRecord) -> &str| -> Vec<&str> { lines.iter().map(|(_, l)| f(l)).collect() };
    let big = |f: fn(&LineRecord) -> i64| -> Vec<i64> { lines.iter().map(|(_, l)| f(l)).collect() };
    let int = |f: fn(&LineRecord) -> i32| -> Vec<i32> { lines.iter().map(|(_, l)| f(l)).collect() };
    let sale_ids: Vec<&str> = lines.iter().map(|(id, _)| *id).collect();
    let cert: Vec<Option<&str>> = lines.iter().map(|(_, l)| l.cert_no.as_deref()).collect();
    tx.execute(
        "INSERT INTO sale_lines(sale_id, line, sku, name_zh, name_en, category, unit, weighed,
                                qty, unit_price_fen, amount_fen, county_code, county_name,
                                product_stall, supplier, cert_no)
         SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::text[], $8::int[], $9::bigint[], $10::bigint[],
                              $11::bigint[], $12::text[], $13::text[], $14::text[],
                              $15::text[], $16::text[])",
        &[
            &sale_ids,
            &int(|l| l.line as i32),
            &text(|l| &l.sku),
            &text(|l| &l.name_zh),
            &text(|l| &l.name_en),
            &text(|l| &l.category),
            &text(|l| &l.unit),
            &int(|l| i32::from(l.weighed)),
            &big(|l| l.qty),
            &big(|l| l.unit_price_fen),
            &big(|l| l.amount_fen),
            &text(|l| &l.county_code),
            &text(|l| &l.county_name),
            &text(|l| &l.product_stall),
            &text(|l| &l.supplier),
            &cert,
        ],
    )
    .await?;
    Ok(())
}

async fn write_payments(tx: &Transaction<'_>, sales: &[&SaleRecord]) -> Result<()> {
    let (mut ids, mut idx, mut methods, mut amounts, mut tendered) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for s in sales {
        for (i, p) in s.payments.iter().enumerate() {
            ids.push(s.header.id.as_str());
            idx.push(i as i32);
            methods.push(p.method.as_str());
            amounts.push(p.amount_fen);
            tendered.push(p.tendered_fen);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO sale_payments(sale_id, idx, method, amount_fen, tendered_fen)
         SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::bigint[], $5::bigint[])",
        &[&ids, &idx, &methods, &amounts, &tendered],
    )
    .await?;
    Ok(())
}
