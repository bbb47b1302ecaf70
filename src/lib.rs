//! fairpos: the till app. An offline-first till and self-checkout kiosk for
//! consumption-assistance fairs.
//!
//! A volunteer's action (scan, tap, command) reaches the [`till::Till`] controller, which
//! runs the pure rules of [`fairpos_domain`] and writes the result through the [`store`]:
//! one SQLite transaction holding the sale's numbered row and its Automerge ledger change
//! ([`fairpos_sync`]). [`fairpos_projection`] turns ledger records into the SQL tables that
//! reports read. The [`uplink`] carries the ledgers to headquarters ([`fairpos_hq`]) over
//! the protocol of [`fairpos_sync::protocol`]. The [`cli`] and, with the `gui` feature, the
//! touchscreen ([`gui`]) drive it all. See ARCHITECTURE.md for the whole map.

pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
#[cfg(feature = "gui")]
pub mod gui;
pub mod store;
pub mod till;
pub mod uplink;

pub use error::{Error, Result};
