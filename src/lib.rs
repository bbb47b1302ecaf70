//! fairpos: an offline-first till and self-checkout kiosk for consumption-assistance fairs.
//!
//! A volunteer's action (scan, tap, command) reaches the [`till::Till`] controller, which
//! runs the pure [`domain`] rules and writes the result through the [`store`]: one SQLite
//! transaction holding the sale's rows, its receipt number and its Automerge ledger change
//! ([`fairpos_sync`]). The [`projection`] turns ledger records into SQL tables that the
//! [`report`]s read. See ARCHITECTURE.md for the whole map.

pub mod catalog_csv;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod gui;
pub mod hq;
pub mod projection;
pub mod report;
pub mod shared_catalog;
pub mod store;
pub mod till;
pub mod uplink;

pub use error::{Error, Result};
