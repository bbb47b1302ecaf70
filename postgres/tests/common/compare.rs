//! Comparing a projection in PostgreSQL with SQLite's of the same ledgers.

use fairpos_postgres::{report, Pool};
use fairpos_projection::report::{Dimension, Report};
use fairpos_projection::schema::{self, TABLES};
use rusqlite::Connection;

use super::Ledger;

/// The same ledgers projected into SQLite, as a till or a SQLite headquarters does.
pub fn sqlite_projection(ledgers: &[Ledger]) -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::create_projection(&conn).unwrap();
    conn.execute_batch("CREATE TABLE stalls (id TEXT PRIMARY KEY, name TEXT, team TEXT)")
        .unwrap();
    for ledger in ledgers {
        let tx = conn.transaction().unwrap();
        for record in &ledger.records {
            fairpos_projection::apply::apply(&tx, record, &ledger.key).unwrap();
        }
        tx.commit().unwrap();
    }
    conn
}

fn sqlite_reports(conn: &Connection) -> Vec<Report> {
    Dimension::ALL
        .iter()
        .map(|&by| fairpos_projection::report::build(conn, by).unwrap())
        .collect()
}

/// Every report from PostgreSQL's roll-up, after checking each equals the one read from
/// every sale there.
async fn postgres_reports(pool: &Pool) -> Vec<Report> {
    let mut out = Vec::new();
    for by in Dimension::ALL {
        let rolled = report::build(pool, by).await.unwrap();
        assert_eq!(rolled, report::scan(pool, by).await.unwrap(), "by {by:?}");
        out.push(rolled);
    }
    out
}

fn sqlite_stock(conn: &Connection) -> Vec<(String, i64)> {
    let mut stmt = conn
        .prepare("SELECT sku, qty FROM stock_out ORDER BY sku")
        .unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

async fn postgres_stock(pool: &Pool) -> Vec<(String, i64)> {
    let client = pool.get().await.unwrap();
    let rows = client
        .query(
            "SELECT sku, qty FROM stock_out WHERE qty <> 0 ORDER BY sku",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

fn sqlite_counts(conn: &Connection) -> Vec<i64> {
    TABLES
        .iter()
        .map(|(t, _)| {
            conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
                .unwrap()
        })
        .collect()
}

async fn postgres_counts(pool: &Pool) -> Vec<i64> {
    let client = pool.get().await.unwrap();
    let mut out = Vec::new();
    for (t, _) in TABLES {
        out.push(
            client
                .query_one(&format!("SELECT COUNT(*) FROM {t}"), &[])
                .await
                .unwrap()
                .get(0),
        );
    }
    out
}

/// Asserts that PostgreSQL holds what SQLite does: every report, stock and row count.
pub async fn assert_same(pool: &Pool, sqlite: &Connection) {
    let expected = sqlite_reports(sqlite);
    assert!(
        expected.iter().all(|r| !r.rows.is_empty()),
        "the fair sold something"
    );
    assert_eq!(postgres_reports(pool).await, expected);
    let stock: Vec<_> = sqlite_stock(sqlite)
        .into_iter()
        .filter(|(_, q)| *q != 0)
        .collect();
    assert_eq!(postgres_stock(pool).await, stock);
    assert_eq!(postgres_counts(pool).await, sqlite_counts(sqlite));
}
