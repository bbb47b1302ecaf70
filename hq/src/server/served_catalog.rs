//! The fair's catalog as a process on PostgreSQL serves it, shared by the loop that merges
//! other processes' edits into it (`postgres.rs`) and the one that folds the products tills
//! added (`kept_products.rs`).

use std::path::PathBuf;

use fairpos_sync::samod::{DocHandle, DocumentId};

/// The fair's catalog as this process serves it: what tills added offline is folded into it,
/// and what other processes (or `hq catalog import`) changed of it is merged in.
pub struct Catalog {
    pub handle: DocHandle,
    pub id: DocumentId,
    pub key: String,
    pub fair: String,
    /// The data directory, where `hq catalog import` writes.
    pub dir: PathBuf,
}
