//! The fair's catalog as a process serves it: found at the start ([`find`]), and on
//! PostgreSQL shared by the loop that merges other processes' edits into it
//! (`postgres.rs`) and the one that folds the products tills added (`kept_products.rs`).

use std::path::PathBuf;
use std::time::Duration;

use fairpos_sync::samod::{DocHandle, DocumentId, Repo};

use crate::{Error, Result};

/// How many times headquarters looks for its catalog at start, a second apart.
const TRIES: u32 = 5;

/// The catalog `id` in `repo`'s storage. Headquarters (`of_headquarters`) holds its catalog
/// from `hq init`: one not found is storage that did not answer (a database busy at the
/// start), asked again a few times, then the start refused. Served without it, the process
/// merged no one's catalog edits, folded no product tills added, and gave newly enrolled
/// tills an empty catalog. A hub takes its catalog from headquarters later: `None`.
pub async fn find(
    repo: &Repo,
    id: &DocumentId,
    of_headquarters: bool,
) -> Result<Option<DocHandle>> {
    for attempt in 1..=TRIES {
        let found = repo
            .find(id.clone())
            .await
            .map_err(|e| Error::Other(format!("samod: {e}")))?;
        if found.is_some() || !of_headquarters {
            return Ok(found);
        }
        if attempt < TRIES {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    Err(Error::Other(format!(
        "the fair's catalog ({id}) was not found in headquarters' storage after {TRIES} \
         tries: is the database answering?"
    )))
}

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
