//! The statements of the projection, in SQL that SQLite and PostgreSQL both take (numbered
//! parameters `?N`; [`postgres_params`] turns them into PostgreSQL's `$N`).

/// A record indexed by device and sequence number; nothing when it is already.
pub const INSERT_RECORD: &str =
    "INSERT INTO records(id, device, seq, kind, at, doc_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT DO NOTHING";
/// The id of a device's record of a sequence number.
pub const RECORD_AT: &str = "SELECT id FROM records WHERE device = ?1 AND seq = ?2";
/// A shift opened (a close applied first keeps its columns).
pub const SHIFT_OPEN: &str =
    "INSERT INTO shifts(id, device, seller, opened_at, float_fen) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT(id) DO UPDATE SET seller = excluded.seller,
     opened_at = excluded.opened_at, float_fen = excluded.float_fen
     WHERE shifts.device = excluded.device";
/// A shift closed (before or after its opening is applied).
pub const SHIFT_CLOSE: &str =
    "INSERT INTO shifts(id, device, seller, opened_at, float_fen, closed_at, expected_fen,
     counted_fen, variance_fen, last_sale, last_sale_seq)
     VALUES (?1, ?2, '', '', 0, ?3, ?4, ?5, ?6, ?7, ?8)
     ON CONFLICT(id) DO UPDATE SET closed_at = excluded.closed_at,
     expected_fen = excluded.expected_fen, counted_fen = excluded.counted_fen,
     variance_fen = excluded.variance_fen, last_sale = excluded.last_sale,
     last_sale_seq = excluded.last_sale_seq
     WHERE shifts.device = excluded.device";
/// The till whose shift it is.
pub const SHIFT_DEVICE: &str = "SELECT device FROM shifts WHERE id = ?1";
/// Cash paid in or out during a shift.
pub const CASH_MOVE: &str = "INSERT INTO cash_moves(id, device, shift_id, at, amount_fen, reason)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
/// Adds to the quantity gone out of a SKU.
pub const ADD_STOCK_OUT: &str = "INSERT INTO stock_out(sku, qty) VALUES (?1, ?2)
     ON CONFLICT(sku) DO UPDATE SET qty = stock_out.qty + excluded.qty";
/// The numbered row of a sale.
pub const SALE: &str =
    "INSERT INTO sales(id, device, record_seq, number, seq, shift_id, at, stall, seller,
     seller_name, team, unit_tax_id, unit_name, total_fen, change_fen)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
/// Whether a sale's void is projected already, and whether a refund of it is.
pub const SALE_CORRECTED: &str = "SELECT EXISTS(SELECT 1 FROM voids WHERE sale_id = ?1),
     EXISTS(SELECT 1 FROM refunds WHERE sale_id = ?1)";
/// A void projected before its sale given the sale's till (?2).
pub const VOID_MEETS_SALE: &str =
    "UPDATE voids SET sale_device = ?2 WHERE sale_id = ?1 AND sale_device IS NULL";
/// The refunds projected before their sale given the sale's till (?2).
pub const REFUND_MEETS_SALE: &str =
    "UPDATE refunds SET sale_device = ?2 WHERE sale_id = ?1 AND sale_device IS NULL";
/// The lines numbered ?2 of the refunds of sale ?1 given that line as sold.
pub const REFUND_LINE_MEETS_SALE: &str =
    "UPDATE refund_lines SET sold_sku = ?3, sold_qty = ?4, sold_fen = ?5
     WHERE line = ?2 AND refund_id IN (SELECT id FROM refunds WHERE sale_id = ?1)";
/// A line of a sale as sold: product, quantity, amount.
pub const LINE_SOLD: &str =
    "SELECT sku, qty, amount_fen FROM sale_lines WHERE sale_id = ?1 AND line = ?2";
/// A line of a sale.
pub const SALE_LINE: &str =
    "INSERT INTO sale_lines(sale_id, line, sku, name_zh, name_en, category, unit, weighed,
     qty, unit_price_fen, amount_fen, county_code, county_name,
     product_stall, supplier, cert_no)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
/// A payment of a sale.
pub const SALE_PAYMENT: &str =
    "INSERT INTO sale_payments(sale_id, idx, method, amount_fen, tendered_fen)
     VALUES (?1, ?2, ?3, ?4, ?5)";
/// A SKU a sale sold beyond the stock the till knew, beside the sale's till, sequence
/// and number and the line's name.
pub const SALE_OVERSOLD: &str =
    "INSERT INTO sale_oversold(sale_id, sku, device, seq, number, name_zh)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING";
/// A sale voided, with the sale's till (null while the sale is not projected).
pub const VOID: &str = "INSERT INTO voids(id, device, sale_id, shift_id, at, reason, sale_device)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
/// What a sale's lines took out of stock.
pub const SALE_LINES_STOCK: &str = "SELECT sku, qty FROM sale_lines WHERE sale_id = ?1";
/// The till that made a sale.
/// `?2`'s own first: in a database whose sales hold an id twice from before they were
/// indexed by it once, a till's void or refund of its own sale is not taken for another's.
pub const SALE_DEVICE: &str =
    "SELECT device FROM sales WHERE id = ?1 ORDER BY device = ?2 DESC LIMIT 1";
/// A refund of (part of) a sale, with the sale's till (null while it is not projected).
pub const REFUND: &str =
    "INSERT INTO refunds(id, device, number, sale_id, shift_id, at, method, amount_fen,
                         sale_device)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
/// A line of a refund, with the line sold (null while the sale is not projected).
pub const REFUND_LINE: &str =
    "INSERT INTO refund_lines(refund_id, line, sku, qty, amount_fen, sold_sku, sold_qty,
                              sold_fen)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// `sql` with PostgreSQL's parameter marks: `?N` becomes `$N`.
pub fn postgres_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}
