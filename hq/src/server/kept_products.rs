//! The products tills added that are kept for the catalog (`crate::catalog::added`), folded by
//! a serving headquarters into the catalog it serves: as it starts (what a process stopped
//! between a projection and its fold left), and whenever they change while it serves (a
//! product kept by `hq bundle import` whose own fold failed, by `hq postgres project`, or by
//! this process's projection, folded from its pass already), looked at every second. Those
//! the catalog as stored holds are forgotten.

use std::collections::HashSet;
use std::time::Duration;

use fairpos_postgres::Pool;
use fairpos_sync::catalog::{CatalogDoc, CatalogProduct};
use fairpos_sync::ids::document_id;
use fairpos_sync::samod::{DocHandle, DocumentId};
use fairpos_sync::samod_storage::load_document;

use crate::till_added;
use crate::Result;

/// When the kept products are looked at: when they changed since the last look (another
/// count or last place, [`till_added::mark`]), or, after a look that folded some the catalog as
/// stored does not hold yet (samod stores the served document soon after), at once again.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    seen: Option<(i64, i64)>,
}

impl Watch {
    /// Whether the kept products, `mark` now, are to be looked at.
    fn due(&self, mark: (i64, i64)) -> bool {
        self.seen != Some(mark)
    }

    /// A look ended with the kept products at `mark`, some of them perhaps folded and not
    /// stored yet (`to_store`).
    fn looked(&mut self, mark: (i64, i64), to_store: bool) {
        self.seen = (!to_store).then_some(mark);
    }
}

/// Folds `waiting` into the catalog `handle` serves, `stored` being the catalog as stored.
/// Returns the SKUs to forget (the stored catalog holds them) and whether some of the others
/// are folded only in the served document so far.
fn fold(
    handle: &DocHandle,
    key: &str,
    fair: &str,
    waiting: Vec<CatalogProduct>,
    stored: Option<automerge::Automerge>,
) -> Result<(HashSet<String>, bool)> {
    let (held, rest) = till_added::left_to_fold(waiting, stored, key, fair)?;
    let served = add_products(handle, key, fair, &rest);
    Ok((held, !served.is_empty()))
}

/// Folds the products tills added offline into the catalog document `handle` holds (those
/// the catalog has already, by SKU, left as they are; those a till would refuse the
/// catalog for, logged and left out: a ledger is whatever its till wrote). Returns the SKUs
/// of `products` the document then holds.
pub(crate) fn add_products(
    handle: &DocHandle,
    key: &str,
    fair: &str,
    products: &[fairpos_sync::catalog::CatalogProduct],
) -> HashSet<String> {
    handle.with_document(|doc| {
        let fork = doc.fork();
        let Ok(mut catalog) = CatalogDoc::open(key, fair, fork) else {
            return HashSet::new();
        };
        let Ok(contents) = catalog.contents() else {
            return HashSet::new();
        };
        let (new, not) = fairpos_sync::catalog::foldable(products, &contents.products);
        for why in not {
            eprintln!("catalog: {why}");
        }
        let mut held = till_added::held_of(products, &contents.products);
        if new.is_empty() {
            return held;
        }
        let now = chrono::Utc::now().timestamp_millis();
        if catalog.put(&new, now).is_ok() {
            match doc.merge(catalog.automerge_mut()) {
                Ok(_) => held.extend(new.into_iter().map(|p| p.sku)),
                Err(e) => eprintln!("catalog: {e}"),
            }
        }
        held
    })
}

/// One look at the products kept in a SQLite headquarters' database `conn`, if they changed.
pub(crate) fn look_here(
    conn: &rusqlite::Connection,
    handle: &DocHandle,
    key: &str,
    fair: &str,
    watch: &mut Watch,
) {
    let mut look = || -> Result<()> {
        if !watch.due(till_added::mark(conn)?) {
            return Ok(());
        }
        let waiting = till_added::waiting(conn)?;
        let mut to_store = false;
        if !waiting.is_empty() {
            let stored = load_document(conn, &document_id(key))?;
            let (held, folded) = fold(handle, key, fair, waiting, stored)?;
            till_added::forget(conn, &held)?;
            to_store = folded;
        }
        watch.looked(till_added::mark(conn)?, to_store);
        Ok(())
    };
    if let Err(e) = look() {
        eprintln!("catalog: the products tills added, kept for it: {e}");
    }
}

/// The catalog a process on PostgreSQL serves: its document, id, key and fair.
pub(crate) struct Served {
    pub handle: DocHandle,
    pub id: DocumentId,
    pub key: String,
    pub fair: String,
}

/// Looks at the products kept in PostgreSQL every [`LOOK_EVERY`], until the process stops.
pub(crate) async fn follow_on_postgres(pool: Pool, catalog: Served) {
    let mut watch = Watch::default();
    loop {
        if let Err(e) = look_on_postgres(&pool, &catalog, &mut watch).await {
            eprintln!("catalog: the products tills added, kept for it: {e}");
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

async fn look_on_postgres(pool: &Pool, catalog: &Served, watch: &mut Watch) -> Result<()> {
    if !watch.due(fairpos_postgres::till_added::mark(pool).await?) {
        return Ok(());
    }
    let waiting = fairpos_postgres::till_added::waiting(pool).await?;
    let mut to_store = false;
    if !waiting.is_empty() {
        let chunks = fairpos_postgres::documents::document_chunks(pool, &catalog.id).await?;
        let stored = fairpos_sync::samod_storage::load_chunks(&catalog.id.to_string(), &chunks)?;
        let (held, folded) = fold(
            &catalog.handle,
            &catalog.key,
            &catalog.fair,
            waiting,
            stored,
        )?;
        fairpos_postgres::till_added::forget(pool, &held).await?;
        to_store = folded;
    }
    watch.looked(fairpos_postgres::till_added::mark(pool).await?, to_store);
    Ok(())
}

/// How often a process on PostgreSQL looks at the kept products (a SQLite headquarters looks
/// with its other checks, as often).
const LOOK_EVERY: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::Watch;

    #[test]
    fn the_kept_products_are_looked_at_when_they_change_or_wait_to_be_stored() {
        let mut watch = Watch::default();
        assert!(watch.due((0, 0)), "the first look");
        watch.looked((0, 0), false);
        assert!(!watch.due((0, 0)));
        assert!(watch.due((1, 7)), "one kept since");
        watch.looked((1, 7), true);
        assert!(watch.due((1, 7)), "folded, not stored yet: again");
        watch.looked((0, 7), false);
        assert!(!watch.due((0, 7)));
        assert!(watch.due((1, 8)));
    }
}
