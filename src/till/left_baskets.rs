//! Baskets a shopper left on the kiosk's payment QR with no payment confirmed: the shopper
//! may have paid the stall's code and walked off before staff came. Kept at the till (not in
//! the ledger: no sale was made) for staff, who match one to a payment that came in with no
//! sale (`fairpos kiosk left`), and ring it up.

use chrono::SecondsFormat;
use rusqlite::params;
use serde::Serialize;

use super::{Till, Time};
use crate::error::Result;

/// A basket left on the payment QR.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeftBasket {
    /// When the payment QR was shown for it.
    pub shown_at: String,
    /// When it was cleared.
    pub left_at: String,
    /// The amount the payment QR asked for.
    pub amount_fen: i64,
    /// Its lines, as the kiosk showed them (`名称 ×2`), one after another.
    pub items: String,
    /// What cleared it: `start over`, `idle`.
    pub why: String,
}

fn text(t: Time) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

impl Till {
    /// Keeps a basket left on the payment QR (shown at `shown_at` for `amount_fen`).
    pub fn keep_left_basket(
        &mut self,
        shown_at: Time,
        left_at: Time,
        amount_fen: i64,
        items: &str,
        why: &str,
    ) -> Result<()> {
        self.reader()?.execute(
            "INSERT INTO kiosk_left(shown_at, left_at, amount_fen, items, why)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![text(shown_at), text(left_at), amount_fen, items, why],
        )?;
        Ok(())
    }

    /// The baskets left on the payment QR, oldest first.
    pub fn left_baskets(&mut self) -> Result<Vec<LeftBasket>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare(
            "SELECT shown_at, left_at, amount_fen, items, why FROM kiosk_left ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(LeftBasket {
                shown_at: r.get(0)?,
                left_at: r.get(1)?,
                amount_fen: r.get(2)?,
                items: r.get(3)?,
                why: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
