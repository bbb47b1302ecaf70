//! Baskets a shopper left on the kiosk's payment QR with no payment confirmed: the shopper
//! may have paid the stall's code and walked off before staff came. Kept at the till (not in
//! the ledger: no sale was made) for staff, who match one to a payment that came in with no
//! sale (`fairpos kiosk left`), and ring it up.

use std::path::Path;

use chrono::SecondsFormat;
use rusqlite::{params, Connection, OpenFlags};
use serde::Serialize;

use super::{Till, Time};
use crate::error::{Error, Result};

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

/// How long a left basket is kept: a payment that came with no sale is matched the same day
/// or at the fair's cash-up, not at the till's next fair, whose staff would read last
/// month's baskets among theirs.
pub const KEPT_DAYS: i64 = 30;

/// The `meta` key holding the basket on the payment QR now, unpaid: kept as left when the
/// kiosk starts again. A kiosk stopped on its payment QR (a power cut, a crash) lost it, and
/// its shopper may have paid.
const ON_THE_QR: &str = "kiosk_basket_on_qr";

fn text(t: Time) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

impl Till {
    /// Keeps a basket left on the payment QR (shown at `shown_at` for `amount_fen`), and
    /// lets go of those left more than [`KEPT_DAYS`] before it.
    pub fn keep_left_basket(
        &mut self,
        shown_at: Time,
        left_at: Time,
        amount_fen: i64,
        items: &str,
        why: &str,
    ) -> Result<()> {
        let tx = self.reader()?.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO kiosk_left(shown_at, left_at, amount_fen, items, why)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![text(shown_at), text(left_at), amount_fen, items, why],
        )?;
        // SQLite's julianday reads the offsets (`+08:00`) the times are written with.
        tx.execute(
            "DELETE FROM kiosk_left WHERE julianday(left_at) < julianday(?1)",
            [text(left_at - chrono::Duration::days(KEPT_DAYS))],
        )?;
        // Kept, it is no longer on the QR: in the same transaction, or kept twice.
        Till::forget_basket_on_qr_in(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// Notes the basket the payment QR shows now, unpaid (shown at `shown_at` for
    /// `amount_fen`), for [`Till::keep_basket_left_at_a_stop`].
    pub fn note_basket_on_qr(
        &mut self,
        shown_at: Time,
        amount_fen: i64,
        items: &str,
    ) -> Result<()> {
        let noted = serde_json::json!([text(shown_at), amount_fen, items]).to_string();
        self.store_mut().set_meta(ON_THE_QR, &noted)
    }

    /// No basket is on the payment QR any more, unpaid: it was sold, or handed to the counter.
    pub fn forget_basket_on_qr(&mut self) -> Result<()> {
        Till::forget_basket_on_qr_in(self.reader()?)
    }

    /// [`Till::forget_basket_on_qr`] on `conn`, in a transaction of the caller's (a sale's).
    pub fn forget_basket_on_qr_in(conn: &Connection) -> Result<()> {
        conn.execute("DELETE FROM meta WHERE key = ?1", [ON_THE_QR])?;
        Ok(())
    }

    /// Keeps as left (at `now`, `kiosk stopped`) the basket the kiosk stopped with on its
    /// payment QR, if there was one; returns whether there was. Run as a kiosk starts.
    pub fn keep_basket_left_at_a_stop(&mut self, now: Time) -> Result<bool> {
        let Some(noted) = self.store().meta(ON_THE_QR)? else {
            return Ok(false);
        };
        let read = serde_json::from_str::<(String, i64, String)>(&noted)
            .ok()
            .and_then(|(at, amount, items)| {
                let at = chrono::DateTime::parse_from_rfc3339(&at).ok()?;
                Some((at, amount, items))
            });
        let found = read.is_some();
        match read {
            Some((shown_at, amount, items)) => {
                self.keep_left_basket(shown_at, now, amount, &items, "kiosk stopped")?
            }
            None => {
                eprintln!("a basket noted on the payment QR cannot be read: {noted:?}");
                self.forget_basket_on_qr()?;
            }
        }
        Ok(found)
    }

    /// The baskets left on the payment QR, oldest first (tests: staff read them with
    /// [`left_baskets_in`] while the kiosk holds the till).
    #[cfg(test)]
    pub fn left_baskets(&mut self) -> Result<Vec<LeftBasket>> {
        read(self.reader()?)
    }
}

/// The baskets left on the payment QR of the till in `dir`, oldest first, read while the
/// kiosk runs (which holds the till: staff look while it sells), from the database alone.
/// None for a till from before them.
pub fn left_baskets_in(dir: &Path) -> Result<Vec<LeftBasket>> {
    let path = dir.join(crate::store::DB_FILE);
    if !path.exists() {
        return Err(Error::input(format!(
            "no till in {}: set one up with `fairpos init`",
            dir.display()
        )));
    }
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let held: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'kiosk_left')",
        [],
        |r| r.get(0),
    )?;
    if !held {
        return Ok(Vec::new());
    }
    read(&conn)
}

fn read(conn: &Connection) -> Result<Vec<LeftBasket>> {
    let mut stmt = conn
        .prepare("SELECT shown_at, left_at, amount_fen, items, why FROM kiosk_left ORDER BY id")?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, TimeZone};

    #[test]
    fn a_basket_is_kept_thirty_days_then_let_go_of_at_the_next_one_left() {
        let dir = tempfile::tempdir().unwrap();
        let mut till = Till::init_demo(dir.path(), "2468").unwrap();
        let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
        let at = |day: u32, hour: u32| beijing.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap();
        till.keep_left_basket(at(1, 10), at(1, 10), 1_000, "苹果 ×1", "idle")
            .unwrap();
        till.keep_left_basket(at(2, 10), at(2, 10), 2_000, "苹果 ×2", "idle")
            .unwrap();
        // 29 days 23 hours after the first (written at another offset): all kept.
        let utc = FixedOffset::east_opt(0).unwrap();
        let later = utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap();
        till.keep_left_basket(later, later, 3_000, "苹果 ×3", "start over")
            .unwrap();
        assert_eq!(till.left_baskets().unwrap().len(), 3);
        // Two hours later the first is 30 days old and let go of (its text, at +08:00, sorts
        // after the cut-off's at UTC: compared as times, not as text).
        let next = utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap();
        till.keep_left_basket(next, next, 4_000, "苹果 ×4", "idle")
            .unwrap();
        let amounts: Vec<i64> = till
            .left_baskets()
            .unwrap()
            .iter()
            .map(|b| b.amount_fen)
            .collect();
        assert_eq!(amounts, [2_000, 3_000, 4_000]);
    }
}
