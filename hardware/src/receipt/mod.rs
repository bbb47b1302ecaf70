//! Receipts: what a receipt says ([`Receipt`]), how it is laid out on paper ([`layout`]), the
//! ESC/POS bytes that print it ([`escpos_bytes`]) and a decoder of such bytes ([`decode`]).

pub mod charset;
pub mod decode;
pub mod escpos_bytes;
pub mod layout;

/// Everything printed on a receipt, already in words: the till decides what, this crate how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Receipt {
    /// Fair name, centred and bold.
    pub title: String,
    /// Stall, centred.
    pub subtitle: String,
    /// `(label, value)` lines under the title: sale number, time, seller.
    pub header: Vec<(String, String)>,
    pub lines: Vec<ReceiptLine>,
    pub total_fen: i64,
    /// `(method label, amount in fen)` of each payment as handed over.
    pub payments: Vec<(String, i64)>,
    pub change_fen: i64,
    /// `(label, value)` lines after the payments: the buyer unit's name and credit code.
    pub buyer: Vec<(String, String)>,
    /// QR payload (sale id and verification code).
    pub qr: Option<String>,
    /// A line under the QR code saying what it is for.
    pub qr_caption: String,
    pub footer: Vec<String>,
    /// Printed again on request: says so at the top.
    pub reprint: bool,
    /// Pulse the cash drawer before printing.
    pub open_drawer: bool,
}

/// One item line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptLine {
    pub name: String,
    /// `2盒` or `1.5斤`.
    pub quantity: String,
    /// `￥128.00` or `￥7.80/斤`.
    pub unit_price: String,
    pub amount_fen: i64,
}

/// Fen as yuan with the full-width sign: `￥1,280.00` has no separators: `￥1280.00`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}\u{FFE5}{}.{:02}", abs / 100, abs % 100)
}
