//! Headquarters' roll-up in PostgreSQL (SQLite's `rollup.sql`, turned into PostgreSQL's
//! dialect by [`schema`]): sales counted in memory by the
//! projection crate's [`Batch`] from what was projected of their voids and refunds before
//! them ([`priors`], read for a batch of sales at once), written by [`flush`] at the end of
//! the ledger's transaction in key order; voids and refunds counted by triggers.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use fairpos_projection::rollup::{Batch, Delta, Prior, RowKey};

use crate::Result;

/// The conflict clause of every insert into the roll-up: sums add up, names keep the
/// greatest, numbers the lowest and highest (`GREATEST` and `LEAST` pass over NULLs, as
/// SQLite's `COALESCE(MAX(..))` does).
const UPSERT: &str = "ON CONFLICT (dim, scope, key) DO UPDATE SET
    label = GREATEST(rollup.label, excluded.label),
    detail = GREATEST(rollup.detail, excluded.detail),
    sales_fen = rollup.sales_fen + excluded.sales_fen,
    sales_n = rollup.sales_n + excluded.sales_n,
    qty = rollup.qty + excluded.qty,
    refunds_fen = rollup.refunds_fen + excluded.refunds_fen,
    refunds_qty = rollup.refunds_qty + excluded.refunds_qty,
    refunds_n = rollup.refunds_n + excluded.refunds_n,
    voids_n = rollup.voids_n + excluded.voids_n,
    voided_fen = rollup.voided_fen + excluded.voided_fen,
    held = rollup.held + excluded.held,
    low = LEAST(rollup.low, excluded.low),
    high = GREATEST(rollup.high, excluded.high)";

/// The roll-up's table, view and triggers, made from SQLite's (`rollup::SQL`): the same
/// table with text compared byte by byte, the same view, and each trigger's statements as
/// the body of a PL/pgSQL function that an `AFTER INSERT` trigger runs for each row.
pub(crate) fn schema() -> String {
    let sql = crate::dialect::postgres_text(fairpos_projection::rollup::SQL)
        .replace("CREATE VIEW IF NOT EXISTS", "CREATE OR REPLACE VIEW")
        .replace("{upsert}", UPSERT);
    let mut out = String::with_capacity(sql.len() * 2);
    let mut rest = sql.as_str();
    while let Some(at) = rest.find("CREATE TRIGGER IF NOT EXISTS ") {
        out.push_str(&rest[..at]);
        let trigger = &rest[at + "CREATE TRIGGER IF NOT EXISTS ".len()..];
        let (head, body_and_more) = trigger
            .split_once(" BEGIN")
            .expect("rollup.sql: a trigger has a BEGIN");
        let (body, more) = body_and_more
            .split_once("\nEND;")
            .expect("rollup.sql: a trigger ends with END; on a line of its own");
        // head: `NAME AFTER INSERT ON TABLE`
        let name = head.split_whitespace().next().unwrap_or_default();
        out.push_str(&format!(
            "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n\
             BEGIN{body}\n    RETURN NULL;\nEND $$;\n\
             CREATE TRIGGER {head} FOR EACH ROW EXECUTE FUNCTION {name}();"
        ));
        rest = more;
    }
    out.push_str(rest);
    out
}

/// What is projected of the voids and refunds of the sales `ids`, by sale. The three reads go
/// in one round trip.
pub(crate) async fn priors(tx: &Transaction<'_>, ids: &[&str]) -> Result<HashMap<String, Prior>> {
    let voids = tx
        .prepare_cached("SELECT sale_id, shift_id FROM voids WHERE sale_id = ANY($1::text[])")
        .await?;
    let refunds = tx
        .prepare_cached(
            "SELECT sale_id, COUNT(*), CAST(SUM(amount_fen) AS BIGINT) FROM refunds
             WHERE sale_id = ANY($1::text[]) GROUP BY sale_id",
        )
        .await?;
    let lines = tx
        .prepare_cached(
            "SELECT r.sale_id, rl.line, CAST(SUM(rl.amount_fen) AS BIGINT),
                    CAST(SUM(rl.qty) AS BIGINT)
             FROM refunds r JOIN refund_lines rl ON rl.refund_id = r.id
             WHERE r.sale_id = ANY($1::text[]) GROUP BY r.sale_id, rl.line",
        )
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&ids];
    let (voids, refunds, lines) = futures::try_join!(
        tx.query(&voids, &params),
        tx.query(&refunds, &params),
        tx.query(&lines, &params),
    )?;
    let mut out: HashMap<String, Prior> = HashMap::new();
    for row in voids {
        out.entry(row.get(0)).or_default().void_shift = Some(row.get(1));
    }
    for row in refunds {
        let prior = out.entry(row.get(0)).or_default();
        prior.refunds_n = row.get(1);
        prior.refunds_fen = row.get(2);
    }
    for row in lines {
        let line: i32 = row.get(1);
        out.entry(row.get(0))
            .or_default()
            .lines_back
            .insert(i64::from(line), (row.get(2), row.get(3)));
    }
    Ok(out)
}

/// Writes what `batch` counted, one statement for every row it touches.
pub(crate) async fn flush(tx: &Transaction<'_>, batch: &mut Batch) -> Result<()> {
    let rows = batch.drain();
    if rows.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&(RowKey, Delta)) -> Option<&str>| -> Vec<Option<&str>> {
        rows.iter().map(f).collect()
    };
    let big = |f: fn(&Delta) -> i64| -> Vec<i64> { rows.iter().map(|(_, d)| f(d)).collect() };
    let maybe = |f: fn(&Delta) -> Option<i64>| -> Vec<Option<i64>> {
        rows.iter().map(|(_, d)| f(d)).collect()
    };
    let sql = format!(
        "INSERT INTO rollup(dim, scope, key, label, detail, sales_fen, sales_n, qty,
                            refunds_fen, refunds_qty, refunds_n, voids_n, voided_fen, held,
                            low, high)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                              $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[],
                              $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
                              $14::bigint[], $15::bigint[], $16::bigint[])
         {UPSERT}"
    );
    tx.execute(
        &tx.prepare_cached(&sql).await?,
        &[
            &text(|((dim, _, _), _)| Some(*dim)),
            &text(|((_, scope, _), _)| Some(scope.as_str())),
            &text(|((_, _, key), _)| Some(key.as_str())),
            &text(|(_, d)| d.label.as_deref()),
            &text(|(_, d)| d.detail.as_deref()),
            &big(|d| d.sales_fen),
            &big(|d| d.sales_n),
            &big(|d| d.qty),
            &big(|d| d.refunds_fen),
            &big(|d| d.refunds_qty),
            &big(|d| d.refunds_n),
            &big(|d| d.voids_n),
            &big(|d| d.voided_fen),
            &big(|d| d.held),
            &maybe(|d| d.low),
            &maybe(|d| d.high),
        ],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlites_triggers_become_plpgsql_functions_and_triggers() {
        let sql = super::schema();
        assert_eq!(sql.matches("RETURNS trigger LANGUAGE plpgsql").count(), 3);
        for (name, table) in [
            ("rollup_void", "voids"),
            ("rollup_refund", "refunds"),
            ("rollup_refund_line", "refund_lines"),
        ] {
            let trigger = format!(
                "CREATE TRIGGER {name} AFTER INSERT ON {table} FOR EACH ROW \
                 EXECUTE FUNCTION {name}();"
            );
            assert!(sql.contains(&trigger), "{trigger}\n{sql}");
        }
        for sqlite_only in [
            "{clustered}",
            "IF NOT EXISTS rollup_",
            "{upsert}",
            "MAX(label",
        ] {
            assert!(!sql.contains(sqlite_only), "{sqlite_only}\n{sql}");
        }
        assert!(
            sql.contains("key         TEXT COLLATE \"C\" NOT NULL"),
            "{sql}"
        );
    }
}
