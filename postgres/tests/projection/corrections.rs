//! Voids, refunds and refund lines meeting their sales as on SQLite, whichever comes first,
//! filled alike by migration 11; a void naming another till's sale refused, and a sale
//! copying its id.

use super::*;

/// Each void, refund and refund line with the sale's till or the line sold it holds, as text
/// (the same on both backends).
const CORRECTIONS_MEET: &str =
    "SELECT 'void ' || id || ' ' || COALESCE(sale_device, '-') FROM voids
    UNION ALL SELECT 'refund ' || id || ' ' || COALESCE(sale_device, '-') FROM refunds
    UNION ALL SELECT 'line ' || refund_id || ' ' || CAST(line AS TEXT) || ' '
        || COALESCE(sold_sku, '-') || ' ' || COALESCE(CAST(sold_qty AS TEXT), '-') || ' '
        || COALESCE(CAST(sold_fen AS TEXT), '-') FROM refund_lines";

/// `ledgers` projected into SQLite and into a new PostgreSQL database: SQLite's
/// [`CORRECTIONS_MEET`], sorted, and the database's pool.
async fn projected_both_ways(server: &str, ledgers: &[common::Ledger]) -> (Vec<String>, Pool) {
    let sqlite = sqlite_projection(ledgers);
    let pool = migrated_pool(server).await;
    for ledger in ledgers {
        project(&pool, &ledger.key, &ledger.records).await.unwrap();
    }
    let mut in_sqlite: Vec<String> = sqlite
        .prepare(CORRECTIONS_MEET)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    in_sqlite.sort();
    (in_sqlite, pool)
}

/// PostgreSQL's [`CORRECTIONS_MEET`], sorted.
async fn corrections_in_postgres(pool: &Pool) -> Vec<String> {
    let client = pool.get().await.unwrap();
    let rows = client.query(CORRECTIONS_MEET, &[]).await.unwrap();
    let mut texts: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    texts.sort();
    texts
}

/// The voids' and refunds' sale till and refunds' lines' line sold, written as the projection
/// goes on PostgreSQL as on SQLite (whichever of sale and correction comes first), and
/// filled alike by migration 11 for a projection from before them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_get_their_sales_till_and_lines_as_on_sqlite_and_by_migration_11() {
    let Some(server) = server() else { return };
    let ledgers = fair(&mut Lcg(11), 60);
    let (in_sqlite, pool) = projected_both_ways(&server, &ledgers).await;
    assert!(
        in_sqlite
            .iter()
            .any(|r| r.starts_with("line ") && !r.ends_with(" - - -")),
        "the fair has refunds of sales held"
    );
    let in_postgres = || corrections_in_postgres(&pool);
    assert_eq!(in_postgres().await, in_sqlite, "as projected");
    // Whatever came first, no correction of a sale held lacks its sale's till, and no refund
    // line of a line sold lacks that line.
    let unfilled = "SELECT
        (SELECT count(*) FROM voids v JOIN sales s ON s.id = v.sale_id
         WHERE v.sale_device IS NULL)
      + (SELECT count(*) FROM refunds r JOIN sales s ON s.id = r.sale_id
         WHERE r.sale_device IS NULL)
      + (SELECT count(*) FROM refund_lines rl JOIN refunds r ON r.id = rl.refund_id
         JOIN sale_lines l ON l.sale_id = r.sale_id AND l.line = rl.line
         WHERE rl.sold_sku IS NULL)";
    let client = pool.get().await.unwrap();
    let left: i64 = client.query_one(unfilled, &[]).await.unwrap().get(0);
    assert_eq!(
        left, 0,
        "corrections left without their sale's till or line"
    );
    drop(client);
    pool.get()
        .await
        .unwrap()
        .batch_execute(
            "ALTER TABLE voids DROP COLUMN sale_device;
             ALTER TABLE refunds DROP COLUMN sale_device;
             ALTER TABLE refund_lines DROP COLUMN sold_sku, DROP COLUMN sold_qty,
                 DROP COLUMN sold_fen;
             DELETE FROM fairpos_migrations WHERE version = 11;",
        )
        .await
        .unwrap();
    assert_eq!(migrate(&pool).await.unwrap(), [11]);
    assert_eq!(in_postgres().await, in_sqlite, "as migration 11 fills them");
}

/// The two other ways a sale meets corrections projected before it: a sale past the first
/// 1 024 of its ledger (counted in a later batch), and a sale after the first correction of
/// its own ledger (counted with the records after it). Over a fair of 1 100 sales a till,
/// and a sale T2 makes on the second day after its day's corrections, refunded in T1's
/// ledger of that day (projected first): each written as SQLite writes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_meet_sales_of_later_batches_and_after_their_own_ledgers_corrections() {
    use fairpos_sync::record::{RefundRecord, ShiftOpenRecord};
    let Some(server) = server() else { return };
    let mut ledgers = fair(&mut Lcg(12), 1_100);
    // Some sale past the first batch of its ledger has a correction in an earlier ledger.
    let corrected_in = |k: usize| -> std::collections::HashSet<String> {
        let corrections = ledgers[..k].iter().flat_map(|l| &l.records);
        corrections
            .filter_map(|r| match r {
                Record::Void(v) => Some(v.sale.clone()),
                Record::Refund(r) => Some(r.sale.clone()),
                _ => None,
            })
            .collect()
    };
    let late_and_corrected = (1..3).any(|k| {
        let early = corrected_in(k);
        let sales = ledgers[k].records.iter().filter_map(|r| match r {
            Record::Sale(s) => Some(&s.header.id),
            _ => None,
        });
        sales.skip(1_024).any(|id| early.contains(id))
    });
    assert!(late_and_corrected, "the fair exercises the later batches");

    // T2's second day: its corrections, then a new shift and a sale.
    let t2_day = ledgers
        .iter()
        .position(|l| l.key == "fair/T2/2026-11-23")
        .unwrap();
    let next_seq = |records: &[Record], before: &[Record]| {
        records.last().or(before.last()).unwrap().header().seq + 1
    };
    let header = |device: &str, seq: u64| Header {
        id: format!("{device}-r{seq:04}"),
        device: device.into(),
        seq,
        at: "2026-11-23T10:00:00+08:00".into(),
    };
    let Some(Record::Sale(first)) = ledgers[1].records.get(1).cloned() else {
        panic!("T2's first sale is its second record");
    };
    let seq = next_seq(&ledgers[t2_day].records, &ledgers[1].records);
    assert!(
        !ledgers[t2_day].records.is_empty(),
        "the sale comes after corrections"
    );
    let shift = Record::ShiftOpen(ShiftOpenRecord {
        header: header("T2", seq),
        shift: "T2-shift2".into(),
        seller: "V0".into(),
        float_fen: 0,
    });
    let mut sale = first.clone();
    sale.header = header("T2", seq + 1);
    sale.number = "T2-009999".into();
    sale.sale_seq = 9_999;
    sale.shift = "T2-shift2".into();
    // Refunded at T1 on its second day, whose ledger is projected before T2's.
    let t1_day = t2_day - 1;
    assert_eq!(ledgers[t1_day].key, "fair/T1/2026-11-23");
    let seq = next_seq(&ledgers[t1_day].records, &ledgers[0].records);
    let sold = &sale.lines[0];
    let refund = RefundRecord {
        header: header("T1", seq),
        number: "RT1-late".into(),
        sale: sale.header.id.clone(),
        sale_number: String::new(),
        shift: "T1-shift".into(),
        method: "cash".into(),
        amount_fen: sold.amount_fen,
        lines: vec![fairpos_sync::record::RefundLineRecord {
            line: sold.line,
            sku: sold.sku.clone(),
            qty: sold.qty,
            amount_fen: sold.amount_fen,
        }],
    };
    let refund_id = refund.header.id.clone();
    let expected = [
        format!("refund {refund_id} T2"),
        format!(
            "line {refund_id} {} {} {} {}",
            sold.line, sold.sku, sold.qty, sold.amount_fen
        ),
    ];
    ledgers[t2_day].records.extend([shift, Record::Sale(sale)]);
    ledgers[t1_day].records.push(Record::Refund(refund));

    let (in_sqlite, pool) = projected_both_ways(&server, &ledgers).await;
    let in_postgres = corrections_in_postgres(&pool).await;
    let differ: Vec<_> = in_postgres
        .iter()
        .filter(|r| !in_sqlite.contains(r))
        .chain(in_sqlite.iter().filter(|r| !in_postgres.contains(r)))
        .collect();
    assert!(
        differ.is_empty(),
        "PostgreSQL and SQLite differ: {differ:?}"
    );
    for filled in expected {
        assert!(in_postgres.contains(&filled), "{filled}");
    }
}

/// A fair of five sales a till (`seed`), in a new database with T1's ledger projected; and
/// T1's first sale.
async fn t1_projected(server: &str, seed: u64) -> (Pool, Vec<common::Ledger>, SaleRecord) {
    let ledgers = fair(&mut Lcg(seed), 5);
    let pool = migrated_pool(server).await;
    project(&pool, &ledgers[0].key, &ledgers[0].records)
        .await
        .unwrap();
    let sale = ledgers[0]
        .records
        .iter()
        .find_map(|r| match r {
            Record::Sale(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    (pool, ledgers, sale)
}

/// T2's ledger with a sale copying `sale` (T1's), its id among them: its lines numbered
/// apart, and no payment, so that no row of its lines or payments is one the copied sale
/// holds.
fn t2_copying(ledgers: &[common::Ledger], sale: &SaleRecord) -> Vec<Record> {
    let mut records = ledgers[1].records.clone();
    let mut copy = sale.clone();
    copy.header.device = "T2".into();
    copy.header.seq = records.len() as u64 + 1;
    copy.sale_seq = 9999;
    for line in &mut copy.lines {
        line.line += 100;
    }
    copy.payments.clear();
    records.push(Record::Sale(copy));
    records
}

/// `records` of `device` with a void of `sale` after them, its id `id`, in `shift`.
fn voiding(
    records: &[Record],
    device: &str,
    id: &str,
    sale: &SaleRecord,
    shift: &str,
) -> Vec<Record> {
    let mut records = records.to_vec();
    records.push(Record::Void(fairpos_sync::record::VoidRecord {
        header: Header {
            id: id.into(),
            device: device.into(),
            seq: records.len() as u64 + 1,
            at: "2026-11-22T12:00:00+08:00".into(),
        },
        sale: sale.header.id.clone(),
        number: sale.number.clone(),
        shift: shift.into(),
        reason: "wrong".into(),
    }));
    records
}

/// T1's ledger with a void of its `sale`.
fn t1_voiding(ledgers: &[common::Ledger], sale: &SaleRecord) -> Vec<Record> {
    voiding(&ledgers[0].records, "T1", "T1-void", sale, &sale.shift)
}

/// A void in T2's ledger naming a sale of T1's (whose id is on T1's receipt), projected once
/// T1's ledger is: the ledger is refused whole, as SQLite's projection refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_void_naming_another_tills_sale_is_refused() {
    let Some(server) = server() else { return };
    let (pool, ledgers, sale) = t1_projected(&server, 4).await;
    let records = voiding(&ledgers[1].records, "T2", "T2-forged", &sale, "T2-shift");
    let err = project(&pool, &ledgers[1].key, &records).await.unwrap_err();
    assert!(matches!(err, Error::Integrity(_)), "{err}");
    let said = format!(
        "void T2-forged of T2 names sale {}, which T1 made",
        sale.header.id
    );
    assert!(err.to_string().contains(&said), "{err}");
    let client = pool.get().await.unwrap();
    let t2: i64 = client
        .query_one("SELECT count(*) FROM records WHERE device = 'T2'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(t2, 0, "nothing of the refused ledger is projected");
}

/// A sale in T2's ledger copying the id of a sale of T1's (from its receipt): the ledger is
/// refused, as on a SQLite headquarters. T1's void of its sale then names one sale and is
/// projected (before, both sales were taken, and the void's ledger failed at every try: two
/// sales held the id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_copying_another_tills_sale_id_is_refused() {
    let Some(server) = server() else { return };
    let (pool, ledgers, sale) = t1_projected(&server, 5).await;
    let records = t2_copying(&ledgers, &sale);
    let err = project(&pool, &ledgers[1].key, &records).await.unwrap_err();
    assert!(matches!(err, Error::Integrity(_)), "{err}");
    assert!(
        err.to_string()
            .contains("a sale of it has the id of another till's sale"),
        "{err}"
    );
    let t1 = t1_voiding(&ledgers, &sale);
    assert_eq!(project(&pool, &ledgers[0].key, &t1).await.unwrap(), 1);
    let client = pool.get().await.unwrap();
    let voided: i64 = client
        .query_one(
            "SELECT count(*) FROM voids WHERE id = 'T1-void' AND sale_device = 'T1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(voided, 1);
}

/// T2's ledger closing a shift of T1's (its id copied) is refused, as on SQLite: T1's
/// cash-up stays as T1 counted it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_another_tills_shift_is_refused() {
    let Some(server) = server() else { return };
    let (pool, ledgers, _) = t1_projected(&server, 6).await;
    let shift = ledgers[0]
        .records
        .iter()
        .find_map(|r| match r {
            Record::ShiftOpen(s) => Some(s.shift.clone()),
            _ => None,
        })
        .unwrap();
    let client = pool.get().await.unwrap();
    let cash_up = "SELECT device, counted_fen FROM shifts WHERE id = $1";
    let before = client.query_one(cash_up, &[&shift]).await.unwrap();
    let before: (String, Option<i64>) = (before.get(0), before.get(1));
    let mut records = ledgers[1].records.clone();
    records.push(Record::ShiftClose(fairpos_sync::record::ShiftCloseRecord {
        header: Header {
            id: "T2-close".into(),
            device: "T2".into(),
            seq: records.len() as u64 + 1,
            at: "2026-11-22T18:00:00+08:00".into(),
        },
        shift: shift.clone(),
        expected_fen: 1,
        counted_fen: 1,
        variance_fen: 0,
        last_sale: None,
        last_sale_seq: 0,
    }));
    let err = project(&pool, &ledgers[1].key, &records).await.unwrap_err();
    assert!(matches!(err, Error::Integrity(_)), "{err}");
    let said = format!("record T2-close of T2 opens or closes shift {shift}, which is T1's");
    assert!(err.to_string().contains(&said), "{err}");
    let after = client.query_one(cash_up, &[&shift]).await.unwrap();
    assert_eq!((after.get(0), after.get(1)), before);
}

/// A sale whose seller is a text of kilobytes that do not compress (no till writes one) is
/// refused with its ledger: too long for an index's row, it failed at every try, every
/// minute for ever, the till never told and its later sales never counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_too_long_for_an_index_refuses_its_ledger() {
    let Some(server) = server() else { return };
    let (pool, ledgers, sale) = t1_projected(&server, 6).await;
    let mut records = ledgers[1].records.clone();
    let mut long = sale.clone();
    long.header.id = "T2-long".into();
    long.header.device = "T2".into();
    long.header.seq = records.len() as u64 + 1;
    long.sale_seq = 9999;
    long.number = "T2-009999".into();
    let mut lcg = Lcg(7);
    long.seller = (0..8000).map(|_| format!("{:x}", lcg.next(16))).collect();
    records.push(Record::Sale(long));
    let err = project(&pool, &ledgers[1].key, &records).await.unwrap_err();
    assert!(err.refuses_ledger(), "{err}");
}

/// A database whose sales hold an id twice from before `sales_id_once` (a copy taken, its
/// index left plain): T1's void of that sale is refused with its ledger, not tried again
/// every minute for ever (two sales came back where one was asked for, and the roll-up met
/// its row twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_void_of_a_sale_held_twice_from_before_the_unique_index_is_refused() {
    let Some(server) = server() else { return };
    let (pool, ledgers, sale) = t1_projected(&server, 8).await;
    pool.get()
        .await
        .unwrap()
        .batch_execute("DROP INDEX sales_id_once; CREATE INDEX sales_id ON sales (id)")
        .await
        .unwrap();
    let records = t2_copying(&ledgers, &sale);
    project(&pool, &ledgers[1].key, &records).await.unwrap();
    // T1's row written again (its id changed and back, so not in place): read after T2's
    // copy, which a lookup without the asking till first returned.
    let move_after = "UPDATE sales SET id = id || '-moved' WHERE device = 'T1' AND id = $1;";
    let back = "UPDATE sales SET id = $1 WHERE device = 'T1' AND id = $1 || '-moved';";
    let client = pool.get().await.unwrap();
    for sql in [move_after, back] {
        client.execute(sql, &[&sale.header.id]).await.unwrap();
    }
    drop(client);
    let t1 = t1_voiding(&ledgers, &sale);
    let err = project(&pool, &ledgers[0].key, &t1).await.unwrap_err();
    // Not taken for a void of T2's sale (its own is read first), and refused as the roll-up
    // meets its row twice.
    assert!(!matches!(err, Error::Integrity(_)), "{err}");
    assert!(err.refuses_ledger(), "{err}");
}
