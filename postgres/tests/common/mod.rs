//! A database of its own for each test on the PostgreSQL server the test run started
//! (`scripts/postgres.sh`), a randomized fair's ledgers to project, and the comparison with
//! SQLite's projection of them.
// Each test binary uses part of this harness.
#![allow(dead_code)]

pub mod compare;

use std::sync::atomic::{AtomicUsize, Ordering};

use fairpos_postgres::Pool;
use fairpos_sync::record::{
    CashMoveRecord, Header, LineRecord, PaymentRecord, RefundLineRecord, RefundRecord, SaleRecord,
    ShiftCloseRecord, ShiftOpenRecord, UnitRef, VoidRecord,
};
use fairpos_sync::Record;

/// The server's address without a database (`postgres://postgres@127.0.0.1:PORT`).
const SERVER: &str = "FAIRPOS_TEST_POSTGRES";
/// Set by `scripts/test.sh`: a missing server fails the tests instead of skipping them.
const REQUIRED: &str = "FAIRPOS_REQUIRE_POSTGRES";

/// The server's address, or `None` (with a line saying the test is skipped) on a machine
/// where no test server runs and none is required.
pub fn server() -> Option<String> {
    match std::env::var(SERVER) {
        Ok(url) => Some(url.trim_end_matches('/').to_string()),
        Err(_) if std::env::var_os(REQUIRED).is_some() => {
            panic!(
                "{SERVER} is not set but {REQUIRED} is: start the server with scripts/postgres.sh"
            )
        }
        Err(_) => {
            eprintln!(
                "skipped: no PostgreSQL server ({SERVER} is not set; scripts/test.sh sets it)"
            );
            None
        }
    }
}

/// A new, empty database on the test server; its address.
pub async fn fresh_database(server: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "fairpos_t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let (admin, connection) =
        tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls)
            .await
            .expect("the test server takes a connection");
    let driver = tokio::spawn(connection);
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin
            .batch_execute(&sql)
            .await
            .expect("a database is created");
    }
    drop(admin);
    let _ = driver.await;
    format!("{server}/{name}")
}

/// A pool on a new database, migrated.
pub async fn migrated_pool(server: &str) -> Pool {
    let pool = fairpos_postgres::connect(&fresh_database(server).await).expect("a pool");
    fairpos_postgres::migrate(&pool)
        .await
        .expect("the migrations run");
    pool
}

/// How many rows `table` holds.
pub async fn rows_in(pool: &Pool, table: &str) -> i64 {
    let client = pool.get().await.expect("a connection");
    let count = format!("SELECT count(*) FROM {table}");
    client
        .query_one(&count, &[])
        .await
        .expect("the table is counted")
        .get(0)
}

/// A small deterministic generator (the tests need no randomness crate).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

const PRODUCTS: [(&str, &str, &str, bool, &str, &str); 5] = [
    ("P1", "腊肉", "斤", true, "433125", "保靖县"),
    ("P2", "茶叶", "盒", false, "433125", "保靖县"),
    ("P3", "蜂蜜", "瓶", false, "522633", "从江县"),
    ("P4", "香菇", "袋", false, "522633", "从江县"),
    ("P5", "米", "kg", true, "532823", "勐腊县"),
];

/// A sale's id, its till, and its lines as (line, SKU, quantity, amount).
type Sold = (String, String, Vec<(u32, String, i64, i64)>);

/// One ledger: its key and records in the till's order.
pub struct Ledger {
    pub key: String,
    pub records: Vec<Record>,
}

fn renumber(header: &mut Header, seq: u64) {
    header.seq = seq;
    header.id = format!("{}-r{seq:04}", header.device);
    header.at = header.at.replace("2026-11-22", "2026-11-23");
}

fn header(device: &str, seq: u64, minute: u64) -> Header {
    Header {
        id: format!("{device}-r{seq:04}"),
        device: device.to_string(),
        seq,
        at: format!(
            "2026-11-22T{:02}:{:02}:00+08:00",
            9 + minute / 60,
            minute % 60
        ),
    }
}

/// Three tills' ledgers of a day (a shift with a float and a cash move, sales with split
/// payments, purchasing units, names that change between sales, voids, refunds made at any
/// till) and their three ledgers of the next day (more voids and refunds of the first day's
/// sales).
pub fn fair(rng: &mut Lcg, sales_per_till: u64) -> Vec<Ledger> {
    let mut ledgers: Vec<Ledger> = (1..=3)
        .map(|d| Ledger {
            key: format!("fair/T{d}/2026-11-22"),
            records: Vec::new(),
        })
        .collect();
    let mut sold: Vec<Sold> = Vec::new();
    for (d, ledger) in ledgers.iter_mut().enumerate() {
        let device = format!("T{}", d + 1);
        let shift = format!("{device}-shift");
        let mut seq = 1;
        ledger.records.push(Record::ShiftOpen(ShiftOpenRecord {
            header: header(&device, seq, 0),
            shift: shift.clone(),
            seller: "V0".into(),
            float_fen: 100 * rng.next(500) as i64,
        }));
        for n in 1..=sales_per_till {
            seq += 1;
            let mut lines = Vec::new();
            let mut total = 0;
            for line in 1..=1 + rng.next(3) as u32 {
                let (sku, name, unit, weighed, county, county_name) =
                    PRODUCTS[rng.next(PRODUCTS.len())];
                let qty = if weighed {
                    100 + rng.next(900) as i64
                } else {
                    1 + rng.next(3) as i64
                };
                let amount = qty * (1 + rng.next(50) as i64);
                total += amount;
                lines.push(LineRecord {
                    line,
                    sku: sku.into(),
                    name_zh: format!("{name}{}", rng.next(2)),
                    name_en: String::new(),
                    category: "土特产".into(),
                    unit: unit.into(),
                    weighed,
                    qty,
                    unit_price_fen: amount / qty,
                    amount_fen: amount,
                    county_code: county.into(),
                    county_name: county_name.into(),
                    product_stall: format!("S0{}", d + 1),
                    supplier: "合作社".into(),
                    cert_no: None,
                });
            }
            let methods = ["cash", "wechat", "alipay"];
            let split = if rng.next(4) == 0 { total / 2 } else { total };
            let mut payments = vec![PaymentRecord {
                method: methods[rng.next(3)].into(),
                amount_fen: split,
                tendered_fen: split,
            }];
            if split < total {
                payments.push(PaymentRecord {
                    method: methods[rng.next(3)].into(),
                    amount_fen: total - split,
                    tendered_fen: total - split,
                });
            }
            let unit = rng.next(4);
            let id = format!("{device}-r{seq:04}");
            sold.push((
                id,
                device.clone(),
                lines
                    .iter()
                    .map(|l| (l.line, l.sku.clone(), l.qty, l.amount_fen))
                    .collect(),
            ));
            ledger.records.push(Record::Sale(SaleRecord {
                header: header(&device, seq, n),
                number: format!("{device}-{n:06}"),
                sale_seq: n,
                shift: shift.clone(),
                stall: format!("S0{}", d + 1),
                seller: format!("V{}", rng.next(3)),
                seller_name: ["张三", "张叁"][rng.next(2)].into(),
                team: format!("team{}", rng.next(2)),
                unit: (unit < 2).then(|| UnitRef {
                    tax_id: format!("UNIT{unit}"),
                    name: format!("单位{}", rng.next(2)),
                }),
                lines,
                payments,
                total_fen: total,
                change_fen: 0,
                oversold: if rng.next(10) == 0 {
                    vec!["P2".into()]
                } else {
                    vec![]
                },
            }));
            if n == 3 {
                seq += 1;
                ledger.records.push(Record::CashMove(CashMoveRecord {
                    header: header(&device, seq, n),
                    shift: shift.clone(),
                    amount_fen: -500,
                    reason: "找零".into(),
                }));
            }
        }
    }
    // Voids at the sale's till, refunds at any till (a line of the sale; no till refunds
    // another's sale, but headquarters takes such a refund and lists it as doubtful), each
    // on the day of the sale or in the next day's ledger: at headquarters those may arrive
    // first.
    let mut later: Vec<Vec<Record>> = vec![Vec::new(); 3];
    for (i, (sale, device, lines)) in sold.iter().enumerate() {
        let (till, next_day) = match rng.next(6) {
            0 => (device[1..].parse::<usize>().unwrap() - 1, rng.next(2) == 0),
            1 => (rng.next(3), rng.next(2) == 0),
            _ => continue,
        };
        let at = format!("T{}", till + 1);
        let seq = if next_day {
            0 // numbered below, after the day's close
        } else {
            ledgers[till].records.len() as u64 + 1
        };
        let record = if device == &at && i % 2 == 0 {
            Record::Void(VoidRecord {
                header: header(&at, seq, 200 + i as u64),
                sale: sale.clone(),
                number: String::new(),
                shift: format!("{at}-shift"),
                reason: "扫错".into(),
            })
        } else {
            let (line, sku, qty, amount) = lines[rng.next(lines.len())].clone();
            Record::Refund(RefundRecord {
                header: header(&at, seq, 300 + i as u64),
                number: format!("R{at}-{i}"),
                sale: sale.clone(),
                sale_number: String::new(),
                shift: format!("{at}-shift"),
                method: "cash".into(),
                amount_fen: amount,
                lines: vec![RefundLineRecord {
                    line,
                    sku,
                    qty,
                    amount_fen: amount,
                }],
            })
        };
        if next_day {
            later[till].push(record);
        } else {
            ledgers[till].records.push(record);
        }
    }
    for (d, ledger) in ledgers.iter_mut().enumerate() {
        let device = format!("T{}", d + 1);
        let seq = ledger.records.len() as u64 + 1;
        ledger.records.push(Record::ShiftClose(ShiftCloseRecord {
            header: header(&device, seq, 500),
            shift: format!("{device}-shift"),
            expected_fen: 1,
            counted_fen: 2,
            variance_fen: 1,
            last_sale: None,
            last_sale_seq: sales_per_till,
        }));
    }
    // The next day's ledgers: their records numbered on from the day before.
    for (d, mut records) in later.into_iter().enumerate() {
        let mut seq = ledgers[d].records.len() as u64;
        for record in &mut records {
            seq += 1;
            match record {
                Record::Void(r) => renumber(&mut r.header, seq),
                Record::Refund(r) => renumber(&mut r.header, seq),
                _ => unreachable!("only voids and refunds are put off"),
            }
        }
        ledgers.push(Ledger {
            key: format!("fair/T{}/2026-11-23", d + 1),
            records,
        });
    }
    ledgers
}
