//! Shift slips headquarters verified and kept, in PostgreSQL (the `shift_slips` table of
//! migration 3, as SQLite's): one per till and shift, the first one recorded kept.

use crate::{Pool, Result};

/// A verified shift slip as it is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlipRow {
    pub device: String,
    pub shift: String,
    pub closed_at: String,
    pub first_sale: Option<String>,
    pub last_sale: Option<String>,
    pub upto: Option<String>,
    pub upto_seq: Option<i64>,
    pub sales: i64,
    pub expected_fen: i64,
    pub counted_fen: i64,
    pub variance_fen: i64,
    pub heads: String,
    pub text: String,
}

/// The text of the slip recorded for `device`'s `shift`, if one is.
pub async fn slip_text(pool: &Pool, device: &str, shift: &str) -> Result<Option<String>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT text FROM shift_slips WHERE device = $1 AND shift = $2",
            &[&device, &shift],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Records a verified slip; `false` when one of that shift was recorded already (kept).
pub async fn record_slip(pool: &Pool, slip: &SlipRow) -> Result<bool> {
    let n = crate::execute(
        pool,
        "INSERT INTO shift_slips (device, shift, closed_at, first_sale, last_sale, upto,
                 upto_seq, sales, expected_fen, counted_fen, variance_fen, heads, text)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (device, shift) DO NOTHING",
        &[
            &slip.device,
            &slip.shift,
            &slip.closed_at,
            &slip.first_sale,
            &slip.last_sale,
            &slip.upto,
            &slip.upto_seq,
            &slip.sales,
            &slip.expected_fen,
            &slip.counted_fen,
            &slip.variance_fen,
            &slip.heads,
            &slip.text,
        ],
    )
    .await?;
    Ok(n > 0)
}

/// Every recorded slip, by device and close: `(device, shift, closed_at, the till's last
/// sale, its number)`.
pub async fn slips(pool: &Pool) -> Result<Vec<(String, String, String, Option<String>, i64)>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT device, shift, closed_at, upto, COALESCE(upto_seq, 0) FROM shift_slips
             ORDER BY device, closed_at",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect())
}
