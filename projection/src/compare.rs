//! Row-by-row comparison of the projection tables of two databases: the till's own, and one
//! rebuilt from the ledger documents alone. `ledger verify` rests on it.

use rusqlite::types::Value;
use rusqlite::Connection;

use crate::schema::TABLES;
use crate::Result;

/// One way in which two projections differ.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    pub table: &'static str,
    /// What the tables hold (`None`: nothing) against what the ledger gives.
    pub tables: Option<String>,
    pub ledger: Option<String>,
}

fn rows(conn: &Connection, table: &str, order: &str) -> Result<Vec<Vec<Value>>> {
    let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))?;
    let n = stmt.column_count();
    let rows = stmt.query_map([], |row| (0..n).map(|i| row.get::<_, Value>(i)).collect())?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn show(row: &[Value]) -> String {
    let cells: Vec<String> = row
        .iter()
        .map(|v| match v {
            Value::Null => "NULL".to_string(),
            Value::Integer(i) => i.to_string(),
            Value::Real(f) => f.to_string(),
            Value::Text(t) => t.clone(),
            Value::Blob(b) => format!("<{} bytes>", b.len()),
        })
        .collect();
    cells.join(" | ")
}

/// Differences between the projection in `tables` and the one in `ledger`, at most `limit`.
pub fn differences(
    tables: &Connection,
    ledger: &Connection,
    limit: usize,
) -> Result<Vec<Difference>> {
    let mut out = Vec::new();
    for (table, order) in TABLES {
        let a = rows(tables, table, order)?;
        let b = rows(ledger, table, order)?;
        let (mut i, mut j) = (0, 0);
        while (i < a.len() || j < b.len()) && out.len() < limit {
            let ka = a.get(i).map(|r| key(r, order));
            let kb = b.get(j).map(|r| key(r, order));
            match (ka, kb) {
                (Some(x), Some(y)) if x == y => {
                    if a[i] != b[j] {
                        out.push(Difference {
                            table,
                            tables: Some(show(&a[i])),
                            ledger: Some(show(&b[j])),
                        });
                    }
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if cmp_values(&x, &y).is_lt() => {
                    out.push(Difference {
                        table,
                        tables: Some(show(&a[i])),
                        ledger: None,
                    });
                    i += 1;
                }
                (Some(_), None) => {
                    out.push(Difference {
                        table,
                        tables: Some(show(&a[i])),
                        ledger: None,
                    });
                    i += 1;
                }
                _ => {
                    out.push(Difference {
                        table,
                        tables: None,
                        ledger: Some(show(&b[j])),
                    });
                    j += 1;
                }
            }
        }
    }
    Ok(out)
}

/// The ordering key of a row: its first `n` columns, where `n` is the number of ordering
/// columns (every table lists its key columns first).
fn key(row: &[Value], order: &str) -> Vec<Value> {
    let n = order.split(',').count();
    row[..n.min(row.len())].to_vec()
}

fn cmp_values(a: &[Value], b: &[Value]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Value::Integer(p), Value::Integer(q)) => p.cmp(q),
            (Value::Text(p), Value::Text(q)) => p.cmp(q),
            _ => format!("{x:?}").cmp(&format!("{y:?}")),
        };
        if o.is_ne() {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}
