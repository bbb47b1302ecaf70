//! Ledger records projected into PostgreSQL: records and sales in batches ([`bulk`]), shifts,
//! cash moves, voids and refunds by the statements SQLite's projection runs
//! ([`fairpos_projection::apply::sql`]), so both backends hold the same rows.
//!
//! Exactly once, with any number of processes: a record is indexed by (device, sequence
//! number) with `ON CONFLICT DO NOTHING`, so a record another transaction projected adds
//! nothing. A ledger's records go in one transaction. Two transactions of one ledger take
//! turns from their start ([`LEDGER_LOCK`]). Transactions of different ledgers write their
//! records' rows side by side up to the ledger's first void or refund, then take turns,
//! whichever process runs them, on one transaction-level advisory lock ([`PROJECTION_LOCK`])
//! held to the commit, under which all the rest is done: what the sales count for, voids,
//! refunds, shifts, the roll-up and stock. So each decides by everything projected before it
//! (a void takes its sale's goods back to stock, and out of the roll-up, only if the sale is
//! there; a sale counts only if its void is not), and rows written before the lock are seen by
//! no other transaction until then. The roll-up's rows are written by every transaction, the
//! busiest (a payment method, an hour) by all of them: concurrent projections deadlocked on
//! them within seconds (each deadlock costing PostgreSQL's one second of detection) before
//! they took turns, as SQLite's one writer does. Storing documents does not wait for
//! projection. A deadlock PostgreSQL still reports ends the transaction, which is tried again
//! from the start.

use std::time::Duration;

use deadpool_postgres::{Object, Transaction};
use fairpos_projection::apply::sql::{self, postgres_params};
use fairpos_projection::apply::StockOut;
use fairpos_projection::rollup::Batch;
use fairpos_sync::plausible::Weight;
use fairpos_sync::record::{
    CashMoveRecord, Header, RefundRecord, SaleRecord, ShiftCloseRecord, ShiftOpenRecord, VoidRecord,
};
use fairpos_sync::samod_storage::chunks_digest;
use fairpos_sync::Record;
use tokio_postgres::types::ToSql;

use crate::{bulk, rollup, Error, Pool, Result};

/// The advisory lock a projection transaction holds ("project" in ASCII).
pub(crate) const PROJECTION_LOCK: i64 = 0x70_726f_6a65_6374;

/// The class of the advisory locks that one ledger's projections take turns on, the second
/// key the hash of its document id (`hashtext`) ("led" in ASCII): as `pg_locks` shows them.
pub const LEDGER_LOCK: i32 = 0x6c_6564;

/// Records indexed (and sales written) per round of statements.
const BATCH: usize = 1024;

/// How many times a ledger's transaction is tried again after PostgreSQL ended it for a
/// deadlock with another (each time after a longer wait).
const RETRIES: u32 = 30;

/// Projects `records` of the ledger `doc_key` in one transaction. Returns how many were new.
/// Product additions are indexed but not folded into a catalog: the catalog tables are not
/// in PostgreSQL yet.
pub async fn project(pool: &Pool, doc_key: &str, records: &[Record]) -> Result<usize> {
    Ok(project_held(pool, doc_key, records, None).await?.new)
}

/// What projecting a ledger did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Projected {
    /// Records new to the projection.
    pub new: usize,
    /// Products the till added offline, in records new to the projection: for headquarters
    /// to fold into the fair's catalog.
    pub product_adds: Vec<fairpos_sync::catalog::CatalogProduct>,
    /// Whether the ledger's document was loaded to project it: not where the chunks stored
    /// since its last projection were read on their own, or nothing was new.
    pub document_loaded: bool,
    /// Whether a change read on its own waits for one not stored yet (samod stores a sync's
    /// changes as they come): the ledger is to be projected again shortly, when that change,
    /// if it still waits alone, goes to the document (it may be a fork, a forgery among
    /// them, which only the document tells from a change still on its way).
    pub changes_waiting: bool,
}

/// How far a ledger document is projected: stored in `hq_docs` in the transaction that
/// projects it, for tills' confirmations.
#[derive(Clone, Copy, Debug)]
pub struct Held<'a> {
    pub doc_id: &'a str,
    /// [`fairpos_sync::ledger::heads_text`] of the document projected.
    pub heads: &'a str,
    /// How many records it holds.
    pub records: i64,
    /// What all its records up to `heads` come to (stored with them: where a projection of
    /// it resumes).
    pub weight: Weight,
    /// The keys of the chunks whose every change `heads` cover and its records map, where
    /// its next projection reads the chunks stored since on their own
    /// ([`crate::registry::ChunksRead`]); the digest of those keys
    /// ([`fairpos_sync::samod_storage::chunks_digest`]) tells whether any were stored since.
    pub chunks_read: (&'a [String], &'a str),
}

/// As [`project`], also storing what `held` says in the document's `hq_docs` row (when it is
/// announced), unless a transaction of another process stored a later state of it first.
pub async fn project_held(
    pool: &Pool,
    doc_key: &str,
    records: &[Record],
    held: Option<Held<'_>>,
) -> Result<Projected> {
    let mut client = pool.get().await?;
    let doc_id = fairpos_sync::ids::document_id(doc_key).to_string();
    let mut attempt = 0;
    loop {
        let outcome = async {
            let tx = ledger_turn(&mut client, &doc_id).await?;
            project_in(tx, doc_key, records, held).await
        };
        match outcome.await {
            Err(e) => again_after(e, &mut attempt).await?,
            done => return done,
        }
    }
}

/// A transaction in which it is the ledger document `doc_id`'s turn: two projections of one
/// ledger (every process hears every store) take turns from their start, so the second finds
/// what the first did (the digest of the chunks it read, its records held), and neither
/// waits on the other's rows. Read committed whatever the database's default, so that what
/// the transaction reads after the lock is what the first committed.
pub(crate) async fn ledger_turn<'c>(
    client: &'c mut Object,
    doc_id: &str,
) -> Result<Transaction<'c>> {
    let tx = crate::read_committed(client).await?;
    let turn = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .await?;
    tx.execute(&turn, &[&LEDGER_LOCK, &doc_id]).await?;
    Ok(tx)
}

/// After a ledger's transaction failed with `e`: waits before it is tried again when
/// PostgreSQL ended it for a deadlock or a serialization failure (up to [`RETRIES`] times,
/// each wait longer); otherwise gives `e` back.
pub(crate) async fn again_after(e: Error, attempt: &mut u32) -> Result<()> {
    if !e.is_retryable() || *attempt >= RETRIES {
        return Err(e);
    }
    *attempt += 1;
    tokio::time::sleep(Duration::from_millis(5 * u64::from(*attempt))).await;
    Ok(())
}

/// Projects `records` of the ledger `doc_key` in `tx`, a [`ledger_turn`], and commits it.
/// Two records that may not both be (a sale's second void, a sale number twice) refuse the
/// ledger: it contradicts what is projected.
pub(crate) async fn project_in(
    tx: Transaction<'_>,
    doc_key: &str,
    records: &[Record],
    held: Option<Held<'_>>,
) -> Result<Projected> {
    match write_ledger(tx, doc_key, records, held).await {
        Err(e) if e.is_unique_violation() => Err(Error::Integrity(match e.unique_key() {
            Some(("sales_id_once", key)) => format!(
                "{doc_key}: a sale of it has the id of another till's sale ({})",
                key.unwrap_or("an id held already")
            ),
            _ => format!("{doc_key}: {e}"),
        })),
        outcome => outcome,
    }
}

async fn write_ledger(
    tx: Transaction<'_>,
    doc_key: &str,
    records: &[Record],
    held: Option<Held<'_>>,
) -> Result<Projected> {
    let mut done = Projected::default();
    // Up to its first void or refund, a ledger's sales rows are written before the
    // projection lock is taken, beside other ledgers' (they are invisible to others until
    // the commit, which comes after the lock); what they count for is decided under it.
    // Honest ledgers share no row written here; two that do (a sequence number reused by
    // another day's ledger) may deadlock with a transaction holding the lock, which
    // PostgreSQL ends after its deadlock timeout, and the retry refuses the forgery.
    let ahead = records
        .iter()
        .position(|r| matches!(r, Record::Void(_) | Record::Refund(_)))
        .unwrap_or(records.len());
    let mut waiting = Vec::new();
    for batch in records[..ahead].chunks(BATCH) {
        let fresh = bulk::index_records(&tx, batch, doc_key).await?;
        let new: Vec<&Record> = batch
            .iter()
            .zip(fresh)
            .filter_map(|(record, fresh)| fresh.then_some(record))
            .collect();
        let sales: Vec<&SaleRecord> = new.iter().filter_map(|r| sale_of(r)).collect();
        bulk::write_sales_rows(&tx, &sales).await?;
        waiting.extend(new);
    }
    // Under the lock every other projection waits, so what is done there goes in few round
    // trips: the lock and the first sales' priors in one (the server reads them once it
    // grants the lock), the roll-up, stock and the ledger's heads in another, then the commit.
    let lock = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1)")
        .await?;
    let mut stock = StockOut::default();
    let mut counted = Batch::default();
    // The records ahead hold no void or refund, so no order among them matters here.
    let sales: Vec<&SaleRecord> = waiting.iter().filter_map(|r| sale_of(r)).collect();
    let mut batches = sales.chunks(BATCH);
    let first = batches.next().unwrap_or_default();
    let ids: Vec<&str> = first.iter().map(|s| s.header.id.as_str()).collect();
    let (_, priors) = futures::try_join!(
        async { Ok(tx.execute(&lock, &[&PROJECTION_LOCK]).await?) },
        rollup::priors(&tx, &ids),
    )?;
    bulk::count_known(first, &priors, &mut stock, &mut counted);
    bulk::corrections_meet_their_sales(&tx, first, |id| bulk::corrected(&priors, id)).await?;
    for batch in batches {
        bulk::count_sales(&tx, batch, &mut stock, &mut counted).await?;
    }
    for record in &waiting {
        take_other(&tx, record, &mut stock, &mut done).await?;
    }
    done.new += waiting.len();
    for batch in records[ahead..].chunks(BATCH) {
        let fresh = bulk::index_records(&tx, batch, doc_key).await?;
        let mut sales = Vec::new();
        for (record, _) in batch.iter().zip(fresh).filter(|(_, fresh)| *fresh) {
            done.new += 1;
            match sale_of(record) {
                Some(sale) => sales.push(sale),
                None => take_other(&tx, record, &mut stock, &mut done).await?,
            }
        }
        bulk::write_sales_rows(&tx, &sales).await?;
        bulk::count_sales(&tx, &sales, &mut stock, &mut counted).await?;
    }
    let heads = async {
        if let Some(held) = &held {
            // The ledgers only grow: a state with fewer records than the stored one is older.
            let update = tx
                .prepare_cached(
                    "UPDATE hq_docs SET heads = $2, records = $3, chunks_digest = $4,
                         weight_fen = $5, weight_qty = $6, weight_heads = $2, chunk_keys = $7,
                         records_map = $8, refused = NULL, updated_at = now()
                     WHERE doc_id = $1 AND records <= $3",
                )
                .await?;
            let (fen, qty) = held.weight.stored();
            let (keys, records_map) = held.chunks_read;
            let digest = chunks_digest(keys.iter().map(String::as_str));
            let params: [&(dyn ToSql + Sync); 8] = [
                &held.doc_id,
                &held.heads,
                &held.records,
                &digest,
                &fen,
                &qty,
                &keys,
                &records_map,
            ];
            tx.execute(&update, &params).await?;
        }
        Ok(())
    };
    // Heard by every process on commit: one that left this ledger to this process looks at
    // once, for a till waiting for its confirmation there.
    let announce = async {
        if let Some(held) = &held {
            let notify = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
            tx.execute(&notify, &[&crate::documents::PROJECTED, &held.doc_id])
                .await?;
        }
        Ok(())
    };
    futures::try_join!(
        rollup::flush(&tx, &mut counted),
        write_stock(&tx, &stock),
        heads,
        announce
    )?;
    tx.commit().await?;
    Ok(done)
}

fn sale_of(record: &Record) -> Option<&SaleRecord> {
    match record {
        Record::Sale(sale) => Some(sale),
        _ => None,
    }
}

/// A new record other than a sale: a product the till added is kept for the catalog, the
/// rest applied ([`apply_other`]).
async fn take_other(
    tx: &Transaction<'_>,
    record: &Record,
    stock: &mut StockOut,
    done: &mut Projected,
) -> Result<()> {
    match record {
        Record::Sale(_) => Ok(()),
        Record::ProductAdd(p) => {
            crate::till_added::keep(tx, p).await?;
            done.product_adds.push(p.product.clone());
            Ok(())
        }
        other => apply_other(tx, other, stock).await,
    }
}

/// Adds the quantities summed over the transaction to `stock_out`, in one statement, rows
/// in SKU order.
async fn write_stock(tx: &Transaction<'_>, stock: &StockOut) -> Result<()> {
    let (skus, qtys): (Vec<&str>, Vec<i64>) = stock.summed().filter(|&(_, qty)| qty != 0).unzip();
    if !skus.is_empty() {
        let add = tx
            .prepare_cached(
                "INSERT INTO stock_out(sku, qty) SELECT * FROM unnest($1::text[], $2::bigint[])
                 ON CONFLICT(sku) DO UPDATE SET qty = stock_out.qty + excluded.qty",
            )
            .await?;
        tx.execute(&add, &[&skus, &qtys]).await?;
    }
    Ok(())
}

async fn statement(tx: &Transaction<'_>, sqlite: &str) -> Result<tokio_postgres::Statement> {
    Ok(tx.prepare_cached(&postgres_params(sqlite)).await?)
}

/// Applies a new record other than a sale (those go in batches, [`bulk::write_sales_rows`]
/// and [`bulk::count_sales`]).
async fn apply_other(tx: &Transaction<'_>, record: &Record, stock: &mut StockOut) -> Result<()> {
    match record {
        Record::ShiftOpen(r) => shift_open(tx, r).await,
        Record::CashMove(r) => cash_move(tx, r).await,
        Record::Void(r) => void(tx, r, stock).await,
        Record::Refund(r) => refund(tx, r, stock).await,
        Record::ShiftClose(r) => shift_close(tx, r).await,
        Record::Sale(_) | Record::ProductAdd(_) => Ok(()),
    }
}

async fn shift_open(tx: &Transaction<'_>, r: &ShiftOpenRecord) -> Result<()> {
    let h = &r.header;
    let written = tx
        .execute(
            &statement(tx, sql::SHIFT_OPEN).await?,
            &[&r.shift, &h.device, &r.seller, &h.at, &r.float_fen],
        )
        .await?;
    own_shift(tx, written, h, &r.shift).await
}

/// As the projection's `own_shift`: a shift's opening or closing that no row took, as the
/// shift is another till's, is refused.
async fn own_shift(tx: &Transaction<'_>, written: u64, h: &Header, shift: &str) -> Result<()> {
    if written > 0 {
        return Ok(());
    }
    let whose: String = tx
        .query_one(&statement(tx, sql::SHIFT_DEVICE).await?, &[&shift])
        .await?
        .get(0);
    Err(Error::Integrity(fairpos_projection::apply::foreign_shift(
        &h.id, &h.device, shift, &whose,
    )))
}

async fn shift_close(tx: &Transaction<'_>, r: &ShiftCloseRecord) -> Result<()> {
    let h = &r.header;
    let last_seq = r.last_sale_seq as i64;
    let written = tx
        .execute(
            &statement(tx, sql::SHIFT_CLOSE).await?,
            &[
                &r.shift,
                &h.device,
                &h.at,
                &r.expected_fen,
                &r.counted_fen,
                &r.variance_fen,
                &r.last_sale,
                &last_seq,
            ],
        )
        .await?;
    own_shift(tx, written, h, &r.shift).await
}

async fn cash_move(tx: &Transaction<'_>, r: &CashMoveRecord) -> Result<()> {
    let h = &r.header;
    tx.execute(
        &statement(tx, sql::CASH_MOVE).await?,
        &[&h.id, &h.device, &r.shift, &h.at, &r.amount_fen, &r.reason],
    )
    .await?;
    Ok(())
}

/// The till that made `sale`, when it is projected (`device` first, in a database whose
/// sales hold an id twice from before `sales_id_once`, where this failed at every try).
async fn made_by(tx: &Transaction<'_>, sale: &str, device: &str) -> Result<Option<String>> {
    Ok(tx
        .query_opt(&statement(tx, sql::SALE_DEVICE).await?, &[&sale, &device])
        .await?
        .map(|row| row.get::<_, String>(0)))
}

/// As the projection's `own_sale`: a void naming a sale another till made (one projected
/// already) is refused. The till that made the sale, if it is projected.
async fn own_sale(tx: &Transaction<'_>, h: &Header, sale: &str) -> Result<Option<String>> {
    match made_by(tx, sale, &h.device).await? {
        Some(made_by) if made_by != h.device => Err(Error::Integrity(
            fairpos_projection::apply::foreign_sale(&h.id, &h.device, sale, &made_by),
        )),
        made_by => Ok(made_by),
    }
}

async fn void(tx: &Transaction<'_>, r: &VoidRecord, stock: &mut StockOut) -> Result<()> {
    let h = &r.header;
    let sale_device = own_sale(tx, h, &r.sale).await?;
    tx.execute(
        &statement(tx, sql::VOID).await?,
        &[
            &h.id,
            &h.device,
            &r.sale,
            &r.shift,
            &h.at,
            &r.reason,
            &sale_device,
        ],
    )
    .await?;
    // Goods come back; if the sale is not projected yet, it will see the void and not count.
    for line in tx
        .query(&statement(tx, sql::SALE_LINES_STOCK).await?, &[&r.sale])
        .await?
    {
        let (sku, qty): (String, i64) = (line.get(0), line.get(1));
        stock.add(&sku, -qty);
    }
    Ok(())
}

async fn refund(tx: &Transaction<'_>, r: &RefundRecord, stock: &mut StockOut) -> Result<()> {
    let h = &r.header;
    let sale_device = made_by(tx, &r.sale, &h.device).await?;
    tx.execute(
        &statement(tx, sql::REFUND).await?,
        &[
            &h.id,
            &h.device,
            &r.number,
            &r.sale,
            &r.shift,
            &h.at,
            &r.method,
            &r.amount_fen,
            &sale_device,
        ],
    )
    .await?;
    let insert_line = statement(tx, sql::REFUND_LINE).await?;
    let line_sold = statement(tx, sql::LINE_SOLD).await?;
    for l in &r.lines {
        let line = l.line as i32;
        // The line sold, when the sale is projected (and has it).
        let sold = match sale_device {
            Some(_) => tx.query_opt(&line_sold, &[&r.sale, &line]).await?,
            None => None,
        };
        let sold_sku: Option<String> = sold.as_ref().map(|s| s.get(0));
        let sold_qty: Option<i64> = sold.as_ref().map(|s| s.get(1));
        let sold_fen: Option<i64> = sold.as_ref().map(|s| s.get(2));
        tx.execute(
            &insert_line,
            &[
                &r.header.id,
                &line,
                &l.sku,
                &l.qty,
                &l.amount_fen,
                &sold_sku,
                &sold_qty,
                &sold_fen,
            ],
        )
        .await?;
        stock.add(&l.sku, -l.qty);
    }
    Ok(())
}
