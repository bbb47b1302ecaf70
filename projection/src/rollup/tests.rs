//! The roll-up against the scans it replaces, over randomized projections whose records
//! arrive in random order (voids and refunds before or after their sales, refunds made at
//! another till, names that change between sales), the sales' counts written out at random
//! moments.

use rusqlite::{params, Connection};

use super::*;
use crate::queries;
use crate::report::{self, Dimension, ReportRow};
use crate::schema;

/// A small deterministic generator (the tests need no randomness crate).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// One projected record's rows, inserted together as `apply` inserts them.
enum Event {
    /// A shift opened, or cash put in or taken out: rows the roll-up does not count.
    Other(String),
    /// The sale's id and its rows.
    Sale(String, Vec<String>),
    Void(String),
    Refund(Vec<String>),
}

const PRODUCTS: [(&str, &str, &str, bool, &str); 5] = [
    ("P1", "腊肉", "斤", true, "433125"),
    ("P2", "茶叶", "盒", false, "433125"),
    ("P3", "蜂蜜", "瓶", false, "522633"),
    ("P4", "香菇", "袋", false, "522633"),
    ("P5", "米", "kg", true, "532823"),
];

/// A sale line: `(line, qty, amount)`.
type Line = (i64, i64, i64);

/// The events of a randomized fair: three tills, their sales, voids and refunds.
fn events(rng: &mut Lcg) -> Vec<Event> {
    let mut out = Vec::new();
    // (id, shift, lines as (line, qty, amount), device)
    let mut sales: Vec<(String, String, Vec<Line>, String)> = Vec::new();
    for d in 1..=3 {
        let device = format!("T{d}");
        let stall = format!("S0{}", d.min(2));
        for seq in 1..=30 {
            if seq == 17 && d == 2 {
                continue; // a gap: this number never arrives
            }
            let id = format!("{device}-{seq:03}");
            let shift = format!("{device}-shift{}", seq / 12);
            let seller = format!("V{}", rng.next(3));
            let names = ["张三", "张叁"];
            let unit = rng.next(4);
            let mut sql = vec![format!(
                "INSERT INTO sales(id, device, record_seq, number, seq, shift_id, at, stall,
                   seller, seller_name, team, unit_tax_id, unit_name, total_fen, change_fen)
                 VALUES ('{id}', '{device}', {seq}, '{device}-{seq:06}', {seq}, '{shift}',
                   '2026-11-22T{:02}:15:00+08:00', '{stall}', '{seller}', '{}', 'team{}', {}, {},
                   TOTAL, 0)",
                9 + rng.next(3),
                names[rng.next(2)],
                rng.next(2),
                if unit < 2 {
                    format!("'UNIT{unit}'")
                } else {
                    "NULL".into()
                },
                if unit == 0 {
                    format!("'单位{}'", rng.next(2))
                } else {
                    "NULL".into()
                },
            )];
            let mut lines = Vec::new();
            let mut total = 0;
            for line in 1..=1 + rng.next(3) as i64 {
                let (sku, name, unit, weighed, county) = PRODUCTS[rng.next(PRODUCTS.len())];
                let qty = if weighed {
                    100 + rng.next(900) as i64
                } else {
                    1 + rng.next(3) as i64
                };
                let amount = qty * (1 + rng.next(50) as i64);
                total += amount;
                lines.push((line, qty, amount));
                sql.push(format!(
                    "INSERT INTO sale_lines(sale_id, line, sku, name_zh, name_en, category, unit,
                       weighed, qty, unit_price_fen, amount_fen, county_code, county_name,
                       product_stall, supplier, cert_no)
                     VALUES ('{id}', {line}, '{sku}', '{name}{}', '', '', '{unit}', {weighed},
                       {qty}, 1, {amount}, '{county}', '县{}', '{stall}', '', NULL)",
                    rng.next(2),
                    rng.next(2)
                ));
            }
            sql[0] = sql[0].replace("TOTAL", &total.to_string());
            let methods = ["cash", "wechat", "alipay"];
            let split = if rng.next(4) == 0 { total / 2 } else { total };
            sql.push(format!(
                "INSERT INTO sale_payments(sale_id, idx, method, amount_fen, tendered_fen)
                 VALUES ('{id}', 0, '{}', {split}, {split})",
                methods[rng.next(3)]
            ));
            if split < total {
                sql.push(format!(
                    "INSERT INTO sale_payments(sale_id, idx, method, amount_fen, tendered_fen)
                     VALUES ('{id}', 1, '{}', {}, {})",
                    methods[rng.next(3)],
                    total - split,
                    total - split
                ));
            }
            out.push(Event::Sale(id.clone(), sql));
            sales.push((id, shift, lines, device.clone()));
        }
    }
    for d in 1..=3 {
        for n in 0..=2 {
            out.push(Event::Other(format!(
                "INSERT INTO shifts(id, device, seller, opened_at, float_fen)
                 VALUES ('T{d}-shift{n}', 'T{d}', 'V0', '2026-11-22T0{n}:00:00+08:00', {})",
                100 * rng.next(50)
            )));
            out.push(Event::Other(format!(
                "INSERT INTO cash_moves(id, device, shift_id, at, amount_fen, reason)
                 VALUES ('move{d}{n}', 'T{d}', 'T{d}-shift{n}', '2026-11-22T10:00:00+08:00', {}, '')",
                rng.next(2000) as i64 - 1000
            )));
        }
    }
    let mut refund_no = 0;
    for (id, shift, lines, device) in &sales {
        match rng.next(7) {
            0 => out.push(Event::Void(format!(
                "INSERT INTO voids(id, device, sale_id, shift_id, at, reason)
                 VALUES ('void-{id}', '{device}', '{id}', '{shift}', '2026-11-22T12:00:00+08:00', '')"
            ))),
            1 | 2 => {
                // Refunded at its own till or at another.
                refund_no += 1;
                let (at_device, at_shift) = if rng.next(3) == 0 {
                    ("T3".to_string(), "T3-shift9".to_string())
                } else {
                    (device.clone(), shift.clone())
                };
                let back: Vec<_> = lines.iter().filter(|_| rng.next(2) == 0).collect();
                let amount: i64 = back.iter().map(|l| l.2 / 2).sum();
                let mut sql = vec![format!(
                    "INSERT INTO refunds(id, device, number, sale_id, shift_id, at, method, amount_fen)
                     VALUES ('refund{refund_no}', '{at_device}', 'R{refund_no}', '{id}', '{at_shift}',
                       '2026-11-22T13:00:00+08:00', '{}', {amount})",
                    ["cash", "wechat"][rng.next(2)]
                )];
                for (line, qty, amount) in back {
                    sql.push(format!(
                        "INSERT INTO refund_lines(refund_id, line, sku, qty, amount_fen)
                         VALUES ('refund{refund_no}', {line}, 'x', {}, {})",
                        qty / 2,
                        amount / 2
                    ));
                }
                out.push(Event::Refund(sql));
            }
            _ => {}
        }
    }
    // A void and a refund of sales that never arrive.
    out.push(Event::Void(
        "INSERT INTO voids(id, device, sale_id, shift_id, at, reason)
         VALUES ('void-lost', 'T1', 'lost', 'T1-shift0', '2026-11-22T12:00:00+08:00', '')"
            .into(),
    ));
    out.push(Event::Refund(vec![
        "INSERT INTO refunds(id, device, number, sale_id, shift_id, at, method, amount_fen)
         VALUES ('refund-lost', 'T1', 'R0', 'lost2', 'T1-shift0', '2026-11-22T13:00:00+08:00',
           'alipay', 77)"
            .into(),
    ]));
    out
}

fn fresh() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(schema::CATALOG).unwrap();
    conn.execute_batch(schema::META).unwrap();
    schema::create_projection(&conn).unwrap();
    conn.execute(
        "INSERT INTO stalls(id, name, team) VALUES ('S01', '一号摊', '')",
        [],
    )
    .unwrap();
    conn
}

/// Projects `events` in order; with a `batch`, counts each sale into it and writes it out
/// at random moments (and at the end).
fn project(conn: &Connection, events: &[Event], mut batch: Option<(&mut Batch, &mut Lcg)>) {
    for e in events {
        let sql = match e {
            Event::Sale(_, sql) | Event::Refund(sql) => sql.join(";\n"),
            Event::Void(sql) | Event::Other(sql) => sql.clone(),
        };
        conn.execute_batch(&format!("BEGIN; {sql}; COMMIT;"))
            .unwrap();
        if let (Event::Sale(id, _), Some((batch, rng))) = (e, batch.as_mut()) {
            let sale = projected_sale(conn, id).unwrap().unwrap();
            batch.count_sale(conn, &sale).unwrap();
            if rng.next(5) == 0 {
                batch.flush(conn).unwrap();
            }
        }
    }
    if let Some((batch, _)) = batch {
        batch.flush(conn).unwrap();
    }
}

fn sorted(mut rows: Vec<ReportRow>) -> Vec<ReportRow> {
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows
}

/// The scans the roll-up stands in for: seller corrections as reconciliation read them.
fn corrections_scanned(conn: &Connection, stall: Option<&str>) -> Vec<Corrections> {
    conn.prepare(
        "WITH s AS (SELECT * FROM sales WHERE ?1 IS NULL OR stall = ?1),
              v AS (SELECT s.seller, COUNT(*) AS n, SUM(s.total_fen) AS fen
                    FROM voids x JOIN s ON s.id = x.sale_id GROUP BY s.seller),
              r AS (SELECT s.seller, COUNT(*) AS n, SUM(x.amount_fen) AS fen
                    FROM refunds x JOIN s ON s.id = x.sale_id GROUP BY s.seller),
              who AS (SELECT seller, MAX(seller_name) AS name, MAX(team) AS team
                      FROM s GROUP BY seller)
         SELECT who.seller, who.name, who.team, COALESCE(v.n, 0), COALESCE(v.fen, 0),
                COALESCE(r.n, 0), COALESCE(r.fen, 0)
         FROM who LEFT JOIN v ON v.seller = who.seller LEFT JOIN r ON r.seller = who.seller
         WHERE v.n IS NOT NULL OR r.n IS NOT NULL
         ORDER BY who.seller",
    )
    .unwrap()
    .query_map(params![stall], |r| {
        Ok(Corrections {
            seller: r.get(0)?,
            name: r.get(1)?,
            team: r.get(2)?,
            voids: r.get(3)?,
            voided_fen: r.get(4)?,
            refunds: r.get(5)?,
            refunded_fen: r.get(6)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn devices_scanned(conn: &Connection) -> Vec<DeviceTotals> {
    conn.prepare(
        "SELECT s.device, MAX(s.stall),
                COALESCE(SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM voids v WHERE v.sale_id = s.id)
                                  THEN s.total_fen END), 0)
                - COALESCE((SELECT SUM(r.amount_fen) FROM refunds r JOIN sales x ON x.id = r.sale_id
                            WHERE x.device = s.device), 0),
                COUNT(*), MIN(s.seq), MAX(s.seq)
         FROM sales s GROUP BY s.device ORDER BY s.device",
    )
    .unwrap()
    .query_map([], |r| {
        Ok(DeviceTotals {
            device: r.get(0)?,
            stall: r.get(1)?,
            net_fen: r.get(2)?,
            held: r.get::<_, i64>(3)? as u64,
            low: r.get::<_, i64>(4)? as u64,
            high: r.get::<_, i64>(5)? as u64,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Everything the roll-up answers equals what the scans answer over the same rows.
fn assert_agrees(conn: &Connection) {
    for by in Dimension::ALL {
        assert_eq!(
            sorted(report::rolled::rows(conn, by).unwrap()),
            sorted(report::scan(conn, by).unwrap()),
            "report by {}",
            by.as_str()
        );
    }
    assert_eq!(device_totals(conn).unwrap(), devices_scanned(conn));
    let counted: (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE NOT EXISTS
               (SELECT 1 FROM voids v WHERE v.sale_id = sales.id)) FROM sales",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(sales_counted(conn).unwrap(), counted);
    let shifts: Vec<String> = conn
        .prepare("SELECT shift_id FROM sales UNION SELECT shift_id FROM refunds")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let cash = shifts_cash(conn).unwrap();
    for shift in shifts {
        assert_eq!(
            cash.get(&shift).copied().unwrap_or_default(),
            queries::cash_flows(conn, &shift).unwrap(),
            "cash of {shift}"
        );
    }
    for stall in [None, Some("S01"), Some("S02")] {
        assert_eq!(
            corrections(conn, stall).unwrap(),
            corrections_scanned(conn, stall),
            "corrections at {stall:?}"
        );
    }
}

#[test]
fn the_roll_up_answers_as_the_scans_whatever_order_records_arrive_in() {
    for seed in 1..=25 {
        let mut rng = Lcg(seed);
        let mut events = events(&mut rng);
        for i in (1..events.len()).rev() {
            events.swap(i, rng.next(i + 1));
        }
        let conn = fresh();
        install(&conn).unwrap();
        let mut batch = Batch::default();
        project(&conn, &events, Some((&mut batch, &mut rng)));
        assert_agrees(&conn);
        let net: i64 = report::build(&conn, Dimension::Stall).unwrap().net_fen;
        assert_ne!(net, 0, "seed {seed} sold nothing");

        // Rebuilt from the tables, it is the same to the row.
        let before: Vec<Vec<rusqlite::types::Value>> = all_rows(&conn);
        conn.execute_batch("BEGIN").unwrap();
        rebuild(&conn).unwrap();
        conn.execute_batch("COMMIT").unwrap();
        assert_eq!(all_rows(&conn), before, "seed {seed}: rebuilt");
    }
}

/// Every roll-up row whose counts are not all zero, in key order.
fn all_rows(conn: &Connection) -> Vec<Vec<rusqlite::types::Value>> {
    let mut stmt = conn
        .prepare(
            "SELECT * FROM rollup WHERE sales_fen <> 0 OR sales_n <> 0 OR qty <> 0
               OR refunds_fen <> 0 OR refunds_qty <> 0 OR refunds_n <> 0 OR voids_n <> 0
               OR voided_fen <> 0 OR held <> 0
             ORDER BY dim, scope, key",
        )
        .unwrap();
    let width = stmt.column_count();
    stmt.query_map([], |r| (0..width).map(|i| r.get(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn installed_on_a_projection_that_holds_sales_it_counts_them() {
    let mut rng = Lcg(99);
    let events = events(&mut rng);
    let conn = fresh();
    project(&conn, &events, None);
    assert!(!installed(&conn).unwrap());
    let scanned = report::build(&conn, Dimension::Product).unwrap();
    install(&conn).unwrap();
    assert!(installed(&conn).unwrap());
    assert_eq!(report::build(&conn, Dimension::Product).unwrap(), scanned);
    assert_agrees(&conn);
    clear(&conn).unwrap();
    assert!(report::build(&conn, Dimension::Unit)
        .unwrap()
        .rows
        .is_empty());
}

#[test]
fn a_roll_up_an_earlier_build_made_is_made_again_once() {
    let mut rng = Lcg(7);
    let events = events(&mut rng);
    let conn = fresh();
    install(&conn).unwrap();
    let mut batch = Batch::default();
    project(&conn, &events, Some((&mut batch, &mut rng)));
    assert_agrees(&conn);
    let right = all_rows(&conn);
    let triggers = || made(&conn, "trigger").unwrap().len();
    // A build from before fingerprints, which counted sales by a trigger of its own (beside
    // this build's count in memory: twice).
    conn.execute_batch(
        "DELETE FROM meta WHERE key = 'rollup_sql';
         CREATE TRIGGER rollup_sale AFTER INSERT ON sales BEGIN
             UPDATE rollup SET sales_n = sales_n + 1;
         END;
         UPDATE rollup SET sales_n = sales_n * 2;",
    )
    .unwrap();
    assert_eq!(triggers(), 4);
    install(&conn).unwrap();
    assert_eq!(triggers(), 3, "the earlier build's trigger is dropped");
    assert_eq!(all_rows(&conn), right, "counted anew");
    // Made from other SQL (its fingerprint differs): made again too.
    conn.execute_batch(
        "UPDATE meta SET value = 'an-older-sql' WHERE key = 'rollup_sql';
         UPDATE rollup SET sales_fen = sales_fen + 1;",
    )
    .unwrap();
    install(&conn).unwrap();
    assert_eq!(all_rows(&conn), right);
    // This build's, fingerprinted: left as it is (a rebuild reads every sale).
    conn.execute_batch("UPDATE rollup SET held = held + 1")
        .unwrap();
    let kept = all_rows(&conn);
    install(&conn).unwrap();
    assert_eq!(all_rows(&conn), kept);
}
