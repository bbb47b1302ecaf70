//! fairpos-domain: the pure core of the till. Catalog, cart, pricing, payment, buyers,
//! sales, refunds, shifts and product search take values and return values; no IO, no
//! clock, no randomness. Times and ids are passed in by the caller (the till controller),
//! which is what makes every rule testable to the fen.
//!
//! This crate's `Cargo.toml` has no database, async runtime, network or UI dependency, so
//! purity is a compile error rather than a convention.
//!
//! Key types: [`Fen`] (money), [`DeviceCode`] and [`SaleNumber`] (the till's identity),
//! [`cart::Cart`], [`sale::Sale`], and [`DomainError`], every rule an input can break, each
//! with a stable [`Rule`] code and words in Chinese and English.

pub mod basket;
pub mod cart;
pub mod catalog;
pub mod catalog_csv;
pub mod codes;
pub mod demo;
mod error;
pub mod fair;
mod ids;
pub mod money;
pub mod payment;
pub mod refund;
pub mod sale;
pub mod search;
pub mod shift;
pub mod slip;
pub mod statement;
pub mod text;

pub use error::{
    AmountIssue, CreditCodeIssue, DomainError, Lang, LineHint, PaymentIssue, QuantityIssue,
    RefundIssue, Rule, ScaleIssue,
};
pub use ids::{DeviceCode, SaleNumber};
pub use money::Fen;

pub type Result<T, E = DomainError> = std::result::Result<T, E>;
