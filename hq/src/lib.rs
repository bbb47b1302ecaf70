//! fairpos-hq: headquarters, and the fair hub (headquarters at the venue). Enrolled devices,
//! every till's ledger documents in samod's SQLite storage, their projection into SQL, the
//! shared catalog document, the server tills sync with, and the organizers' dashboard.
//!
//! Data flow: a till announces its ledger keys (HTTP, authenticated), then syncs them over
//! samod (WebSocket). samod writes what arrives into `samod_kv`; each write wakes the
//! [`project`] step, which checks that every change of a ledger came from its till's actor
//! and projects new records into the same SQL tables a till has
//! ([`fairpos_projection`]). A till's sync is confirmed only by the heads recorded there,
//! after the projection committed. Reports, [`reconcile`]iation, the [`leaderboard`] and a
//! unit's list ([`unit_items`]) are SQL over those tables; the venue's big [`screen`] follows
//! them live.
//!
//! This crate links no UI: the `fairpos-hq` binary (and `fairpos hq …`) runs on a server
//! without a display.

pub mod accounts;
pub mod audit;
pub mod backup;
pub mod bundles;
pub mod catalog;
pub mod checkpoints;
pub mod cli;
pub mod devices;
pub mod dir_lock;
pub mod disk;
mod error;
pub mod hub;
mod instance;
pub mod known_browser;
pub mod leaderboard;
pub mod limits;
pub mod metrics;
pub mod progress;
pub mod project;
pub mod quiet_log;
pub mod readers;
pub mod recent;
pub mod reconcile;
pub mod registry;
pub mod screen;
pub mod server;
pub mod sessions;
pub mod slips;
pub mod state;
pub mod statements;
pub mod throttle;
pub mod till_added;
pub mod unit_items;
pub mod untrusted;
pub mod upstream_refusals;
pub mod web;

pub use error::{Error, Result};
pub use instance::{
    connect, meta, now_text, set_meta, time_text, Founding, Hq, Role, HQ_DB, META_DATABASE,
};
