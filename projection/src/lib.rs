//! fairpos-projection: the SQL that a till and headquarters share.
//!
//! Ledger records ([`fairpos_sync::Record`]) are projected into SQL tables ([`apply`], the
//! tables in [`schema`]) that are the same at a till (its own records) and at headquarters
//! (every till's); the catalog tables ([`catalog`]) hold what the fair sells; [`queries`]
//! and [`report`] read them. The projection is derived data: every row can be rebuilt from
//! the ledger documents, and [`compare`] proves two projections equal row by row.

pub mod apply;
pub mod catalog;
pub mod compare;
mod error;
pub mod queries;
pub mod report;
pub mod rollup;
pub mod schema;

pub use error::{Error, Result};
