//! Printing receipts of committed sales. Printer trouble never touches a sale: a receipt the
//! printer cannot take now goes into a persistent queue (`receipt_queue`) and is printed by
//! `fairpos receipt retry` (or the touchscreen) when the printer is back.

use chrono::SecondsFormat;
use fairpos_hardware::config::PrinterConfig;
use fairpos_hardware::printer::ReceiptPrinter;
use fairpos_hardware::receipt::escpos_bytes::{build, DRAWER_PULSE_NOW};
use fairpos_hardware::receipt::layout::{layout, to_text};
use rusqlite::{params, Connection};

use fairpos_domain::cart::Cart;
use fairpos_domain::DomainError;
use fairpos_hardware::receipt::Receipt;
use fairpos_projection::queries::{self, SaleDetail};

use super::receipt::receipt;
use super::{Till, Time};
use crate::error::{Error, Result};

/// What became of a receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrintOutcome {
    Printed {
        number: String,
        /// Characters the printer's encoding could not hold, printed as substitutes.
        substituted: Vec<char>,
    },
    Queued {
        number: String,
        reason: String,
        /// A cash sale's drawer that may not have opened: the printer, which opens it, was
        /// not reached, or a write to it failed. The volunteer opens it with its key; a
        /// receipt printed later opens no drawer.
        drawer_shut: bool,
    },
}

/// Why a receipt waits that was about to be sent when the till stopped.
pub const NOT_SENT: &str = "not printed: the till stopped while printing it";

/// Why a receipt did not print, when the printer was not reached.
const UNREACHABLE: &str = "printer unreachable";
/// Why a receipt did not print, when the write to the printer failed: some of it may have
/// printed.
const WRITE_FAILED: &str = "printing failed";
/// Why a receipt did not print, when the printer had trouble and the drawer's pulse could
/// not be sent to it either: none of the receipt was.
const PULSE_FAILED: &str = "the drawer's pulse failed";
/// Why a receipt waits that a printer took and did not say it read: it may have printed
/// (a slow printer, a long receipt). Printed again on its own once at most
/// ([`Pending::retried_alone`]): each time it printed, the printer was told back, and it
/// printed again marked REPRINT, on and on.
pub const UNCONFIRMED: &str = "not confirmed by the printer";

/// Why a receipt did not print, and whether the cash drawer it was to open may have stayed
/// shut: [`send_receipt`] knows, where the printer was not reached or a write failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unprinted {
    pub reason: String,
    pub drawer_shut: bool,
}

/// A receipt built for a printer, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyReceipt {
    pub sale_id: String,
    pub number: String,
    pub reprint: bool,
    pub bytes: Vec<u8>,
    /// Characters the printer's encoding could not hold, printed as substitutes.
    pub substituted: Vec<char>,
    /// Whether the receipt opens the cash drawer (a cash sale's, as it completes).
    pub open_drawer: bool,
}

/// Sends a receipt: the printer's status first, then the whole receipt in one write. Returns
/// why it did not print, if it did not. A receipt that opens the drawer (`open_drawer`, a
/// cash sale's as it completes) and that a printer answering it has trouble (paper out,
/// cover open, offline) cannot print opens it all the same, at once ([`DRAWER_PULSE_NOW`]):
/// the volunteer gives change now, whenever the receipt prints.
pub fn send_receipt(
    printer: &mut dyn ReceiptPrinter,
    bytes: &[u8],
    open_drawer: bool,
) -> Option<Unprinted> {
    // Not reached, or a write failed: a drawer the receipt was to open may be shut.
    let unsent = |reason: String| {
        Some(Unprinted {
            reason,
            drawer_shut: open_drawer,
        })
    };
    match printer.status() {
        Err(e) => unsent(format!("{UNREACHABLE}: {e}")),
        Ok(status) => match status.as_ref().and_then(|s| s.problem()) {
            Some(problem) => {
                let pulse = open_drawer.then(|| printer.send(&DRAWER_PULSE_NOW));
                match pulse {
                    Some(Err(e)) => unsent(format!("{PULSE_FAILED}: {e} ({problem})")),
                    _ => Some(Unprinted {
                        reason: problem.to_string(),
                        drawer_shut: false,
                    }),
                }
            }
            None => match printer.send(bytes) {
                Ok(()) => None,
                // Taken whole, its drawer pulse with it.
                Err(fairpos_hardware::Error::Unconfirmed(why)) => Some(Unprinted {
                    reason: format!("{UNCONFIRMED}: {why}"),
                    drawer_shut: false,
                }),
                Err(e) => unsent(format!("{WRITE_FAILED}: {e}")),
            },
        },
    }
}

/// Whether a receipt queued for `reason` may have printed, whole or in part.
fn may_have_printed(reason: &str) -> bool {
    reason == NOT_SENT || reason.starts_with(WRITE_FAILED) || reason.starts_with(UNCONFIRMED)
}

/// Why the printer cannot print now (unreachable, paper out, cover open, offline), as far
/// as it answers status queries; `None` when it can or does not say.
pub fn printer_trouble(printer: &mut dyn ReceiptPrinter) -> Option<String> {
    match printer.status() {
        Err(e) => Some(format!("{UNREACHABLE}: {e}")),
        Ok(Some(status)) => status.problem().map(str::to_string),
        Ok(None) => None,
    }
}

/// A receipt waiting for the printer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub sale_id: String,
    pub number: String,
    pub reprint: bool,
    pub reason: String,
    pub queued_at: String,
    pub attempts: i64,
}

impl Pending {
    /// Whether the queue printed it again on its own already and the printer did not say it
    /// read it that time either: it waits for a person (`fairpos receipt retry`, a reprint).
    pub fn retried_alone(&self) -> bool {
        self.reason.starts_with(UNCONFIRMED) && self.attempts >= 2
    }
}

pub fn receipt_key(till: &Till) -> Result<Vec<u8>> {
    let hex = till
        .store()
        .meta("receipt_key")?
        .ok_or_else(|| Error::Integrity("the till's receipt key is missing".into()))?;
    Ok(hex.into_bytes())
}

impl Till {
    /// The receipt of a sale as UTF-8 text, line for line as a `columns`-wide printer prints
    /// it.
    pub fn receipt_text(&mut self, sale: &str, columns: usize) -> Result<String> {
        let (r, _) = self.receipt_of(sale, false)?;
        Ok(to_text(&layout(&r, columns), columns))
    }

    /// The receipt of `sale` (by number or id) in words, and the sale it tells of.
    fn receipt_of(&mut self, sale: &str, reprint: bool) -> Result<(Receipt, SaleDetail)> {
        let key = receipt_key(self)?;
        let identity = self.store().identity().clone();
        let detail = queries::sale_detail(self.reader()?, sale)?.ok_or_else(|| {
            DomainError::UnknownSale {
                key: sale.to_string(),
            }
        })?;
        Ok((receipt(&identity, &detail, &key, reprint), detail))
    }

    /// Prints the receipt of `sale` on `printer`, or queues it saying why.
    pub fn print_receipt(
        &mut self,
        printer: &mut dyn ReceiptPrinter,
        config: &PrinterConfig,
        sale: &str,
        reprint: bool,
        now: Time,
    ) -> Result<PrintOutcome> {
        let ready = self.ready_receipt(config, sale, reprint, now)?;
        let failure = send_receipt(printer, &ready.bytes, ready.open_drawer);
        self.receipt_result(&ready, failure, now)
    }

    /// The ESC/POS bytes of `sale`'s receipt for the printer `config` describes. Built here
    /// (the database is the till's), sent by [`send_receipt`] anywhere (a printer thread).
    ///
    /// The receipt goes into the queue as [`NOT_SENT`] before it is sent, and out again once
    /// printed ([`Till::receipt_result`]): a till stopped meanwhile (power cut, crash) finds
    /// it waiting, not lost with no trace.
    pub fn ready_receipt(
        &mut self,
        config: &PrinterConfig,
        sale: &str,
        reprint: bool,
        now: Time,
    ) -> Result<ReadyReceipt> {
        let ready = self.ready(config, sale, reprint, true)?;
        let conn = self.reader()?;
        conn.execute(
            "INSERT INTO receipt_queue(sale_id, number, reprint, reason, queued_at, attempts)
             VALUES (?1, ?2, ?3, ?4, ?5, 0)
             ON CONFLICT(sale_id) DO NOTHING",
            params![
                ready.sale_id,
                ready.number,
                reprint,
                NOT_SENT,
                now.to_rfc3339_opts(SecondsFormat::Secs, false)
            ],
        )?;
        Ok(ready)
    }

    /// Queues the receipt of `sale` unprinted for `reason`, before anything of it is built:
    /// the printer's configuration could not be read (it was neither printed nor queued,
    /// and `receipt retry` found nothing once the file was mended).
    pub fn queue_receipt(&mut self, sale: &str, reason: &str, now: Time) -> Result<()> {
        let (_, detail) = self.receipt_of(sale, false)?;
        let (id, number) = (&detail.summary.id, &detail.summary.number);
        queue(self.reader()?, id, number, false, reason, now)
    }

    /// [`Till::ready_receipt`] for a receipt printed from the queue (by the touchscreen as
    /// soon as the printer is back, or `fairpos receipt retry`): it opens no drawer. The
    /// sale opened it when the receipt was queued (`DLE DC4`, [`send_receipt`]); the queue
    /// printed later, perhaps with nobody at the till, popped it open once more for each
    /// cash sale, and each retry while the printer was still out pulsed it again.
    ///
    /// One that may have printed already, whole or in part (the till stopped while sending
    /// it, or the write failed partway), prints marked 重印 REPRINT: it came out again
    /// unmarked, two receipts of one sale for the shopper.
    pub fn ready_queued_receipt(
        &mut self,
        config: &PrinterConfig,
        queued: &Pending,
    ) -> Result<ReadyReceipt> {
        let reprint = queued.reprint || may_have_printed(&queued.reason);
        self.ready(config, &queued.sale_id, reprint, false)
    }

    fn ready(
        &mut self,
        config: &PrinterConfig,
        sale: &str,
        reprint: bool,
        at_sale: bool,
    ) -> Result<ReadyReceipt> {
        let (mut r, detail) = self.receipt_of(sale, reprint)?;
        r.open_drawer = config.drawer
            && at_sale
            && !reprint
            && !detail.summary.voided
            && detail.payments.iter().any(|(m, _, _)| m == "cash");
        let columns = config.columns();
        let built = build(
            &layout(&r, columns),
            columns,
            config.encoding,
            r.open_drawer,
        )
        .map_err(|e| Error::Other(e.to_string()))?;
        Ok(ReadyReceipt {
            sale_id: detail.summary.id.clone(),
            number: detail.summary.number.clone(),
            reprint,
            bytes: built.bytes,
            substituted: built.substituted,
            open_drawer: r.open_drawer,
        })
    }

    /// The ESC/POS bytes of a kiosk's basket slip (see `receipt::basket_slip`).
    pub fn basket_slip_bytes(
        &self,
        config: &PrinterConfig,
        cart: &Cart,
        payload: &str,
        time: &str,
    ) -> Result<Vec<u8>> {
        let slip = super::receipt::basket_slip(self.store().identity(), cart, payload, time);
        let columns = config.columns();
        let built = build(&layout(&slip, columns), columns, config.encoding, false)
            .map_err(|e| Error::Other(e.to_string()))?;
        Ok(built.bytes)
    }

    /// Records what became of a receipt [`send_receipt`] tried: printed (out of the queue) or
    /// queued with the reason.
    pub fn receipt_result(
        &mut self,
        ready: &ReadyReceipt,
        failure: Option<Unprinted>,
        now: Time,
    ) -> Result<PrintOutcome> {
        let conn = self.reader()?;
        match failure {
            None => {
                conn.execute(
                    "DELETE FROM receipt_queue WHERE sale_id = ?1",
                    [&ready.sale_id],
                )?;
                Ok(PrintOutcome::Printed {
                    number: ready.number.clone(),
                    substituted: ready.substituted.clone(),
                })
            }
            Some(Unprinted {
                reason,
                drawer_shut,
            }) => {
                queue(
                    conn,
                    &ready.sale_id,
                    &ready.number,
                    ready.reprint,
                    &reason,
                    now,
                )?;
                Ok(PrintOutcome::Queued {
                    number: ready.number.clone(),
                    reason,
                    drawer_shut,
                })
            }
        }
    }

    /// Receipts waiting for the printer, oldest first.
    pub fn pending_receipts(&mut self) -> Result<Vec<Pending>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare(
            "SELECT sale_id, number, reprint, reason, queued_at, attempts FROM receipt_queue
             ORDER BY queued_at, number",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Pending {
                sale_id: r.get(0)?,
                number: r.get(1)?,
                reprint: r.get(2)?,
                reason: r.get(3)?,
                queued_at: r.get(4)?,
                attempts: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Prints every waiting receipt it can; returns what became of each.
    pub fn retry_receipts(
        &mut self,
        printer: &mut dyn ReceiptPrinter,
        config: &PrinterConfig,
        now: Time,
    ) -> Result<Vec<PrintOutcome>> {
        let mut out = Vec::new();
        for p in self.pending_receipts()? {
            let ready = self.ready_queued_receipt(config, &p)?;
            let failure = send_receipt(printer, &ready.bytes, ready.open_drawer);
            let outcome = self.receipt_result(&ready, failure, now)?;
            let stop = matches!(outcome, PrintOutcome::Queued { .. });
            out.push(outcome);
            if stop {
                // The printer is still not ready: the rest wait too.
                break;
            }
        }
        Ok(out)
    }
}

/// Puts a receipt in the queue, or counts another attempt for one already there. Till-local
/// state, outside the ledger: a receipt is a copy of a sale, not a record of its own.
fn queue(
    conn: &Connection,
    sale_id: &str,
    number: &str,
    reprint: bool,
    reason: &str,
    now: Time,
) -> Result<()> {
    conn.execute(
        "INSERT INTO receipt_queue(sale_id, number, reprint, reason, queued_at, attempts)
         VALUES (?1, ?2, ?3, ?4, ?5, 1)
         ON CONFLICT(sale_id) DO UPDATE SET reason = excluded.reason, attempts = attempts + 1",
        params![
            sale_id,
            number,
            reprint,
            reason,
            now.to_rfc3339_opts(SecondsFormat::Secs, false)
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receipt the printer did not say it read is printed again on its own once, then
    /// waits for a person: each time, it printed and was queued again, on and on.
    #[test]
    fn an_unconfirmed_receipt_is_retried_alone_once() {
        let pending = |reason: &str, attempts| Pending {
            sale_id: "s".into(),
            number: "T01-000001".into(),
            reprint: false,
            reason: reason.into(),
            queued_at: String::new(),
            attempts,
        };
        let unconfirmed = format!("{UNCONFIRMED}: printer x took the receipt");
        assert!(!pending(&unconfirmed, 1).retried_alone());
        assert!(pending(&unconfirmed, 2).retried_alone());
        assert!(
            !pending("paper out", 9).retried_alone(),
            "nothing of it printed"
        );
        assert!(may_have_printed(&unconfirmed));
        assert!(!may_have_printed("paper out"));
    }
}
