//! The pure core of the till: catalog, cart, pricing, payment, buyers, sales, refunds and
//! shifts. Functions here take values and return values; no IO, no clock, no randomness.
//! Times and ids are passed in by the caller (the till controller), which is what makes every
//! rule testable to the fen.

pub mod basket;
pub mod cart;
pub mod catalog;
pub mod codes;
pub mod fair;
pub mod money;
pub mod payment;
pub mod refund;
pub mod sale;
pub mod search;
pub mod shift;

pub use money::Fen;

/// A rule of the till that an input broke. Every message is one line a volunteer can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("bad amount {text:?}: {why}")]
    BadAmount { text: String, why: String },
    #[error("bad check digit in barcode {code}: the last digit should be {expected}")]
    BadCheckDigit { code: String, expected: u8 },
    #[error("unknown code {code}: no product has this barcode, scale code or SKU")]
    UnknownCode { code: String },
    #[error("bad quantity in {item:?}: {why}")]
    BadQuantity { item: String, why: String },
    #[error("zero quantity in {item:?}: a line needs at least one piece or gram")]
    ZeroQuantity { item: String },
    #[error("the cart is empty: add at least one item")]
    EmptyCart,
    #[error("underpaid: {due} due, {paid} paid")]
    Underpaid { due: Fen, paid: Fen },
    #[error("non-cash overpaid: {non_cash} by non-cash methods for {due} due; only cash may exceed what is due")]
    NonCashOverpaid { due: Fen, non_cash: Fen },
    #[error("bad payment {text:?}: {why}")]
    BadPayment { text: String, why: String },
    #[error("bad credit code {code}: {why}")]
    BadCreditCode { code: String, why: String },
    #[error("on_account needs a purchasing unit: give --unit CREDIT_CODE")]
    OnAccountNeedsUnit,
    #[error("no open shift: open one first (fairpos shift open --seller ID --float AMOUNT)")]
    NoOpenShift,
    #[error("a shift is already open (since {since}, seller {seller}); close it first")]
    ShiftAlreadyOpen { since: String, seller: String },
    #[error("wrong PIN")]
    WrongPin,
    #[error("bad fair file: {0}")]
    BadFair(String),
    #[error("bad catalog: {0}")]
    BadCatalog(String),
    #[error("sale {number} is voided")]
    SaleVoided { number: String },
    #[error(
        "sale {number} has refunds, so it cannot be voided; refund its remaining lines instead"
    )]
    SaleHasRefunds { number: String },
    #[error("bad refund: {0}")]
    BadRefund(String),
    #[error("a reason is needed")]
    ReasonNeeded,
    #[error(
        "this is a {kind} customer payment code: {}",
        crate::domain::codes::PAYMENT_CODE_REFUSAL
    )]
    PaymentCode { kind: &'static str },
    #[error(
        "this is the receipt of sale {number}, not an item: open the sale to refund or reprint it"
    )]
    ReceiptScanned { number: String },
    #[error("{file} line {line}: {why}")]
    BadCsvRow {
        file: String,
        line: u64,
        why: String,
    },
    #[error("{file}: {why}")]
    BadCsv { file: String, why: String },
}
