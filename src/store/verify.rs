//! `ledger verify`: proof that the SQL tables and the ledger documents agree, and that the
//! till's numbering has no gaps.

use fairpos_sync::{storage, LedgerDoc, Record};
use rusqlite::Connection;

use crate::error::Result;
use fairpos_domain::SaleNumber;
use fairpos_projection::{apply as projection, compare, schema};

/// Every stored ledger document with its records.
pub fn load_all(conn: &Connection) -> Result<Vec<(LedgerDoc, Vec<Record>)>> {
    let mut out = Vec::new();
    for stored in storage::stored_docs(conn)? {
        let Some(doc) = storage::load(conn, &stored.id)? else {
            continue;
        };
        let records = doc.records()?;
        out.push((doc, records));
    }
    Ok(out)
}

/// What `ledger verify` found.
#[derive(Debug, Default)]
pub struct Verification {
    pub documents: usize,
    pub records: usize,
    pub sales: usize,
    /// Everything wrong, one line each. Empty means verified.
    pub problems: Vec<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the ledger of `device` against the tables of `conn`.
pub fn verify(conn: &Connection, device: &str) -> Result<Verification> {
    let mut v = Verification::default();
    let docs = match load_all(conn) {
        Ok(docs) => docs,
        Err(e) => {
            v.problems
                .push(format!("a ledger document cannot be read: {e}"));
            return Ok(v);
        }
    };
    v.documents = docs.len();
    let mut records: Vec<(&Record, String)> = Vec::new();
    for (doc, recs) in &docs {
        let id = doc.id();
        for r in recs {
            let h = r.header();
            if h.device != id.device {
                v.problems.push(format!(
                    "record {} in {} says it was written by {}",
                    h.id,
                    id.key(),
                    h.device
                ));
            }
            if !h.at.starts_with(&id.day) {
                v.problems.push(format!(
                    "record {} at {} is filed under day {}",
                    h.id, h.at, id.day
                ));
            }
            records.push((r, id.key()));
        }
    }
    records.sort_by(|a, b| {
        let (x, y) = (a.0.header(), b.0.header());
        (&x.device, x.seq).cmp(&(&y.device, y.seq))
    });
    v.records = records.len();

    // Numbering: records and sales of this till run 1, 2, 3, ... without gaps or repeats.
    let mine: Vec<&Record> = records
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| r.header().device == device)
        .collect();
    check_run(
        &mut v.problems,
        "record",
        mine.iter().map(|r| r.header().seq),
    );
    let sales: Vec<_> = mine
        .iter()
        .filter_map(|r| match r {
            Record::Sale(s) => Some(s),
            _ => None,
        })
        .collect();
    v.sales = sales.len();
    let mut seqs: Vec<u64> = sales.iter().map(|s| s.sale_seq).collect();
    seqs.sort_unstable();
    check_run(&mut v.problems, "sale", seqs.into_iter());
    for s in &sales {
        let expected = SaleNumber::new(device, s.sale_seq).to_string();
        if s.number != expected {
            v.problems.push(format!(
                "sale {} has number {}, expected {}",
                s.header.id, s.number, expected
            ));
        }
        let lines: i64 = s.lines.iter().map(|l| l.amount_fen).sum();
        let paid: i64 = s.payments.iter().map(|p| p.amount_fen).sum();
        if lines != s.total_fen || paid != s.total_fen {
            v.problems.push(format!(
                "sale {}: lines {} and payments {} do not add up to the total {}",
                s.number, lines, paid, s.total_fen
            ));
        }
    }

    // The tables must equal a projection rebuilt from the ledger alone.
    // With the catalog's tables: a product a till added is a record, applied to them.
    let fresh = Connection::open_in_memory()?;
    fresh.execute_batch(schema::CATALOG)?;
    schema::create_projection(&fresh)?;
    for (record, key) in &records {
        if let Err(e) = projection::apply(&fresh, record, key) {
            v.problems
                .push(format!("record {}: {e}", record.header().id));
        }
    }
    for d in compare::differences(conn, &fresh, 20)? {
        let line = match (&d.tables, &d.ledger) {
            (Some(t), Some(l)) => format!(
                "{}: tables have [{t}] where the ledger gives [{l}]",
                d.table
            ),
            (Some(t), None) => format!("{}: [{t}] is in the tables but not in the ledger", d.table),
            (None, Some(l)) => format!("{}: [{l}] is in the ledger but not in the tables", d.table),
            (None, None) => continue,
        };
        v.problems.push(line);
    }
    Ok(v)
}

/// Reports gaps and repeats in a sorted run that should be 1, 2, 3, ...
fn check_run(problems: &mut Vec<String>, what: &str, seqs: impl Iterator<Item = u64>) {
    let mut expected = 1;
    for seq in seqs {
        if seq < expected {
            problems.push(format!("{what} number {seq} appears twice"));
        } else {
            if seq > expected {
                let gap = if seq - 1 == expected {
                    format!("{expected}")
                } else {
                    format!("{expected}-{}", seq - 1)
                };
                problems.push(format!("{what} numbers {gap} are missing"));
            }
            expected = seq + 1;
        }
    }
}
