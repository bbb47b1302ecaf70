use super::sql::postgres_params;
use super::*;
use fairpos_sync::catalog::CatalogProduct;
use fairpos_sync::record::{Header, LineRecord, PaymentRecord, RefundLineRecord};

fn header(seq: u64) -> Header {
    Header {
        id: format!("r{seq}"),
        device: "T01".into(),
        seq,
        at: "2026-11-22T10:00:00+08:00".into(),
    }
}

fn sale(seq: u64, lines: &[(&str, i64)]) -> Record {
    let lines: Vec<LineRecord> = lines
        .iter()
        .enumerate()
        .map(|(i, &(sku, qty))| LineRecord {
            line: i as u32 + 1,
            sku: sku.into(),
            name_zh: "茶".into(),
            name_en: "tea".into(),
            category: "tea".into(),
            unit: "盒".into(),
            weighed: false,
            qty,
            unit_price_fen: 100,
            amount_fen: 100 * qty,
            county_code: "433125".into(),
            county_name: "保靖县".into(),
            product_stall: "S01".into(),
            supplier: "".into(),
            cert_no: None,
        })
        .collect();
    let total_fen = lines.iter().map(|l| l.amount_fen).sum();
    Record::Sale(SaleRecord {
        header: header(seq),
        number: format!("T01-{seq:06}"),
        sale_seq: seq,
        shift: "s1".into(),
        stall: "S01".into(),
        seller: "V001".into(),
        seller_name: "张三".into(),
        team: "".into(),
        unit: None,
        lines,
        payments: vec![PaymentRecord {
            method: "cash".into(),
            amount_fen: total_fen,
            tendered_fen: total_fen,
        }],
        total_fen,
        change_fen: 0,
        oversold: Vec::new(),
    })
}

/// Record `seq`, a void of sale `sale`.
fn void(seq: u64, sale: u64) -> Record {
    Record::Void(VoidRecord {
        header: header(seq),
        sale: format!("r{sale}"),
        number: format!("T01-{sale:06}"),
        shift: "s1".into(),
        reason: "wrong".into(),
    })
}

/// Record `seq`, refund T01-R000001 of sale 1 for 1.00 with `lines`.
fn refund(seq: u64, lines: Vec<RefundLineRecord>) -> Record {
    Record::Refund(RefundRecord {
        header: header(seq),
        number: "T01-R000001".into(),
        sale: "r1".into(),
        sale_number: "T01-000001".into(),
        shift: "s1".into(),
        method: "cash".into(),
        amount_fen: 100,
        lines,
    })
}

fn stock(conn: &Connection) -> Vec<(String, i64)> {
    conn.prepare("SELECT sku, qty FROM stock_out ORDER BY sku")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Stock summed over many records and written once (headquarters) leaves the rows that
/// writing each record's (a till) leaves: sales, a void arriving before its sale and one
/// after, a refund, a record applied twice, a product added after sales of it (its stock on
/// hand counts them).
#[test]
fn stock_summed_over_records_equals_stock_written_record_by_record() {
    let records = [
        void(5, 2),
        sale(1, &[("A", 3), ("B", 1)]),
        sale(2, &[("A", 2)]),
        sale(3, &[("B", 4), ("C", 1)]),
        void(6, 3),
        refund(
            7,
            vec![RefundLineRecord {
                line: 1,
                sku: "A".into(),
                qty: 1,
                amount_fen: 100,
            }],
        ),
        sale(1, &[("A", 3), ("B", 1)]),
        sale(8, &[("D", 2)]),
        Record::ProductAdd(ProductAddRecord {
            header: header(9),
            product: CatalogProduct {
                sku: "D".into(),
                barcode: None,
                plu: None,
                name_zh: "蜂蜜".into(),
                name_en: "honey".into(),
                category: "honey".into(),
                unit: "瓶".into(),
                price_fen: 100,
                weighed: false,
                county_code: "433125".into(),
                county_name: "保靖县".into(),
                supplier: "".into(),
                cert_no: None,
                stall: "S01".into(),
                stock: 10,
            },
        }),
        sale(10, &[("D", 1)]),
    ];
    let one_by_one = Connection::open_in_memory().unwrap();
    let summed = Connection::open_in_memory().unwrap();
    for conn in [&one_by_one, &summed] {
        crate::schema::create_projection(conn).unwrap();
        conn.execute_batch(crate::schema::CATALOG).unwrap();
    }
    let mut sums = StockOut::default();
    for record in &records {
        let a = apply(&one_by_one, record, "ledger").unwrap();
        let mut inserts = Inserts::prepare(&summed).unwrap();
        let b = apply_with(&summed, &mut inserts, record, "ledger", &mut sums, None).unwrap();
        assert_eq!(a, b);
    }
    sums.write(&summed).unwrap();
    // In batches, each sale looked up only when a void or refund names it: split where
    // the first void (of r2) is projected before its sale's batch, and where it is
    // applied earlier in the same batch.
    for split in [1, 3] {
        let batched = Connection::open_in_memory().unwrap();
        crate::schema::create_projection(&batched).unwrap();
        batched.execute_batch(crate::schema::CATALOG).unwrap();
        for batch in [&records[..split], &records[split..]] {
            let mut sums = StockOut::default();
            let mut named = NamedSales::projected(&batched, batch).unwrap();
            let mut inserts = Inserts::prepare(&batched).unwrap();
            for record in batch {
                apply_in_batch(
                    &batched,
                    &mut inserts,
                    record,
                    "ledger",
                    &mut sums,
                    &mut named,
                )
                .unwrap();
            }
            sums.write(&batched).unwrap();
        }
        let differ = crate::compare::differences(&one_by_one, &batched, 10).unwrap();
        assert!(differ.is_empty(), "split at {split}: {differ:?}");
        assert_eq!(stock(&batched), stock(&one_by_one), "split at {split}");
    }
    let expected = [
        ("A".into(), 2),
        ("B".into(), 1),
        ("C".into(), 0),
        ("D".into(), 3),
    ];
    assert_eq!(stock(&one_by_one), expected);
    assert_eq!(stock(&summed), expected);
    let on_hand = |conn: &Connection| -> i64 {
        conn.query_row(
            "SELECT p.stock_base - COALESCE(o.qty, 0) FROM products p
             LEFT JOIN stock_out o ON o.sku = p.sku WHERE p.sku = 'D'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!((on_hand(&one_by_one), on_hand(&summed)), (9, 9));
}

#[test]
fn numbered_parameters_become_postgres_marks() {
    assert_eq!(
        postgres_params("INSERT INTO t(a, b) VALUES (?1, ?12) -- why? ?x"),
        "INSERT INTO t(a, b) VALUES ($1, $12) -- why? ?x"
    );
}

/// A batch's sales named by a void or refund: those projected before it, and those noted as
/// its records are applied; no other.
#[test]
fn a_batch_names_the_sales_a_void_or_refund_reached_first() {
    let refund = |seq, sale: u64| {
        Record::Refund(RefundRecord {
            header: header(seq),
            number: format!("T01-R{seq:06}"),
            sale: format!("r{sale}"),
            sale_number: format!("T01-{sale:06}"),
            shift: "s1".into(),
            method: "cash".into(),
            amount_fen: 100,
            lines: Vec::new(),
        })
    };
    let conn = Connection::open_in_memory().unwrap();
    crate::schema::create_projection(&conn).unwrap();
    let mut stock = StockOut::default();
    for record in [refund(1, 12), void(2, 13)] {
        apply(&conn, &record, "ledger").unwrap();
    }
    let batch = [
        sale(11, &[("A", 1)]),
        sale(12, &[("A", 1)]),
        sale(13, &[("A", 1)]),
        refund(14, 15),
        sale(15, &[("A", 1)]),
    ];
    let mut named = NamedSales::projected(&conn, &batch).unwrap();
    let names = |named: &NamedSales| -> Vec<bool> {
        (11..=15)
            .map(|n| named.may_name(&format!("r{n}")))
            .collect()
    };
    assert_eq!(names(&named), [false, true, true, false, false]);
    let mut inserts = Inserts::prepare(&conn).unwrap();
    for record in &batch {
        apply_in_batch(
            &conn,
            &mut inserts,
            record,
            "ledger",
            &mut stock,
            &mut named,
        )
        .unwrap();
    }
    assert_eq!(names(&named), [false, true, true, false, true]);
}

/// A void in T02's ledger naming T01's sale (its id is on T01's receipt) is refused once
/// the sale is projected: a sale is voided at its own till only. A refund of it at T02 is
/// taken (headquarters takes refunds at another till), and so is T01's own void.
#[test]
fn a_void_naming_another_tills_sale_is_refused() {
    let conn = Connection::open_in_memory().unwrap();
    crate::schema::create_projection(&conn).unwrap();
    conn.execute_batch(crate::schema::CATALOG).unwrap();
    apply(&conn, &sale(1, &[("A", 1)]), "ledger").unwrap();
    let of_t02 = |mut record: Record| {
        let header = match &mut record {
            Record::Void(v) => &mut v.header,
            Record::Refund(r) => &mut r.header,
            _ => unreachable!(),
        };
        header.device = "T02".into();
        header.id = format!("T02-{}", header.id);
        record
    };
    let e = apply(&conn, &of_t02(void(1, 1)), "ledger/T02").unwrap_err();
    assert!(matches!(e, Error::Integrity(_)), "{e}");
    assert!(
        e.to_string()
            .contains("void T02-r1 of T02 names sale r1, which T01 made"),
        "{e}"
    );
    assert!(apply(&conn, &of_t02(refund(2, Vec::new())), "ledger/T02").unwrap());
    assert!(apply(&conn, &void(3, 1), "ledger").unwrap());
}

/// Where sales are indexed by id once (headquarters), a sale of T02 carrying the id of T01's
/// sale is refused, naming both, and nothing of it is written: T01's void of its sale then
/// names one sale.
#[test]
fn a_sale_copying_another_tills_sale_id_is_refused_where_ids_are_held_once() {
    let conn = Connection::open_in_memory().unwrap();
    crate::schema::create_projection(&conn).unwrap();
    conn.execute_batch(crate::schema::CATALOG).unwrap();
    conn.execute_batch("CREATE UNIQUE INDEX sales_id_once ON sales (id)")
        .unwrap();
    apply(&conn, &sale(1, &[("A", 1)]), "ledger").unwrap();
    let mut copy = sale(1, &[("B", 2)]);
    if let Record::Sale(s) = &mut copy {
        s.header.device = "T02".into();
        // Its lines numbered apart, and no payment: no row of its lines or payments is one
        // the copied sale holds.
        s.lines[0].line = 7;
        s.payments.clear();
    }
    let e = apply(&conn, &copy, "ledger/T02").unwrap_err();
    assert!(matches!(e, Error::Integrity(_)), "{e}");
    assert!(
        e.to_string()
            .contains("sale r1 of T02 has the id of a sale T01 made"),
        "{e}"
    );
    assert!(apply(&conn, &void(2, 1), "ledger").unwrap());
    let voided: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM voids WHERE sale_device = 'T01'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(voided, 1);
}

/// Where sales are not indexed by id once (a database from before, or a till's), a sale
/// held twice is read with the asking till's own first: T01's void of its sale is taken,
/// where T00's copy, read first (by the index's order), had the void taken for a void of
/// another till's sale.
#[test]
fn a_sale_held_twice_is_read_with_the_asking_tills_own_first() {
    let conn = Connection::open_in_memory().unwrap();
    crate::schema::create_projection(&conn).unwrap();
    conn.execute_batch(crate::schema::CATALOG).unwrap();
    apply(&conn, &sale(1, &[("A", 1)]), "ledger").unwrap();
    let mut copy = sale(1, &[("B", 2)]);
    if let Record::Sale(s) = &mut copy {
        s.header.device = "T00".into();
        s.lines[0].line = 7;
        s.payments.clear();
    }
    apply(&conn, &copy, "ledger/T00").unwrap();
    assert!(apply(&conn, &void(2, 1), "ledger").unwrap());
}

/// Record `seq` of `device` opening shift s1 with `float_fen`, or closing it counted at it.
fn shift(device: &str, seq: u64, open: bool, fen: i64) -> Record {
    let header = Header {
        device: device.into(),
        id: format!("{device}-r{seq}"),
        ..header(seq)
    };
    if open {
        Record::ShiftOpen(ShiftOpenRecord {
            header,
            shift: "s1".into(),
            seller: "V001".into(),
            float_fen: fen,
        })
    } else {
        Record::ShiftClose(ShiftCloseRecord {
            header,
            shift: "s1".into(),
            expected_fen: fen,
            counted_fen: fen,
            variance_fen: 0,
            last_sale: None,
            last_sale_seq: 0,
        })
    }
}

/// A till opens and closes its own shifts: T02 opening or closing T01's shift (its id
/// copied) is refused, and T01's cash-up stays as T01 wrote it.
#[test]
fn opening_or_closing_another_tills_shift_is_refused() {
    let conn = Connection::open_in_memory().unwrap();
    crate::schema::create_projection(&conn).unwrap();
    apply(&conn, &shift("T01", 1, true, 5000), "ledger").unwrap();
    for (seq, open) in [(1, true), (2, false)] {
        let e = apply(&conn, &shift("T02", seq, open, 1), "ledger/T02").unwrap_err();
        let said = format!("record T02-r{seq} of T02 opens or closes shift s1, which is T01's");
        assert!(e.to_string().contains(&said), "{e}");
    }
    apply(&conn, &shift("T01", 2, false, 7000), "ledger").unwrap();
    let held: (String, i64, i64) = conn
        .query_row(
            "SELECT device, float_fen, counted_fen FROM shifts WHERE id = 's1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(held, ("T01".to_string(), 5000, 7000));
}
