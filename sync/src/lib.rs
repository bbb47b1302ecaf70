//! fairpos-sync: the CRDT side of a till and of headquarters.
//!
//! A till writes every event of its day (shift open, sales, voids, refunds, cash moves,
//! shift close) as one [`Record`] into a [`LedgerDoc`], an Automerge document that only this
//! till writes (`ledger/<fair>/<device>/<day>`). The change that [`LedgerDoc::append`] returns
//! is stored with [`storage::store_change`] inside the caller's SQLite transaction, next to
//! the SQL rows the record projects into, so the sale and its ledger change are durable
//! together or not at all.
//!
//! The protocol between a till (or hub) and headquarters lives here too: its HTTP routes and
//! bodies ([`protocol`]), a client of them ([`client`]), the samod session over
//! WebSocket ([`net`]), and whom they trust over TLS ([`tls`]). Domain values cross into wire types only through [`convert`].
//!
//! Key types: [`Record`] (the wire format), [`LedgerId`], [`LedgerDoc`], and the
//! [`storage`] functions.

pub mod answer;
pub mod bundle;
pub mod catalog;
pub mod client;
pub mod convert;
pub mod enrolling;
mod error;
pub mod ids;
pub mod keys;
pub mod ledger;
pub mod ledger_changes;
pub mod net;
pub mod plausible;
pub mod protocol;
pub mod record;
pub mod samod_storage;
pub mod storage;
pub mod tls;

pub use automerge::ActorId;
pub use error::{Error, Result};
pub use ledger::{LedgerDoc, LedgerId};
pub use record::Record;
pub use samod;
