//! The products tills added that are kept for the catalog (`crate::till_added`), folded by
//! a serving headquarters into the catalog it serves: as it starts (what a process stopped
//! between a projection and its fold left), and whenever they change while it serves (a
//! product kept by `hq bundle import` whose own fold failed, by `hq postgres project`, or by
//! this process's projection, folded from its pass already), looked at every second. Those
//! the catalog as stored holds are forgotten. On PostgreSQL every serving process looks, so
//! a product another process folded and samod has not stored yet may be folded here too:
//! the same put twice, which the catalog's merge takes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fairpos_postgres::Pool;
use fairpos_sync::catalog::{CatalogDoc, CatalogProduct};
use fairpos_sync::ids::document_id;
use fairpos_sync::samod::DocHandle;
use fairpos_sync::samod_storage::load_document;

use super::served_catalog::Catalog;
use crate::till_added;
use crate::{Error, Result};

/// When the kept products are looked at: when they changed since the last look (other
/// records kept, [`till_added::records`]), or, after a look that folded some the catalog as
/// stored does not hold yet (samod stores the served document soon after), at once again.
/// A look that failed is tried again after [`AFTER_A_FAILURE`].
#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// The records kept at the last look that left nothing to wait for.
    seen: Option<Vec<String>>,
    not_before: Option<Instant>,
    /// Why products were left out, told once each.
    told: HashSet<String>,
}

impl Watch {
    /// Whether the kept products, the records `kept` now, are to be looked at.
    fn due(&self, kept: &[String]) -> bool {
        self.not_before.is_none_or(|at| Instant::now() >= at) && self.seen.as_deref() != Some(kept)
    }

    /// A look ended with the records `kept`, some of them perhaps folded and not stored yet
    /// (`to_store`).
    fn looked(&mut self, kept: Vec<String>, to_store: bool) {
        self.seen = (!to_store).then_some(kept);
        self.not_before = None;
    }

    /// The records and products of `kept` ([`till_added::kept`]) if they are to be looked at.
    fn to_look_at(&self, kept: &[(String, String)]) -> Option<(Vec<String>, Vec<CatalogProduct>)> {
        let records = till_added::records(kept);
        self.due(&records)
            .then(|| (records, till_added::read_all(kept)))
    }

    /// A look at `records` ended with `folded` (none when nothing was kept): why products
    /// were left out told, the records settled on unless a fold waits to be stored.
    fn ended(&mut self, records: Vec<String>, folded: Option<Looked>) {
        let to_store = match folded {
            Some(looked) => {
                self.tell(looked.not);
                looked.to_store
            }
            None => false,
        };
        self.looked(records, to_store);
    }

    fn failed(&mut self, why: &Error) {
        eprintln!("catalog: the products tills added, kept for it: {why}");
        self.seen = None;
        self.not_before = Some(Instant::now() + AFTER_A_FAILURE);
    }

    /// Says why products were left out, each reason once while the process serves.
    fn tell(&mut self, not: Vec<String>) {
        for why in self.untold(not) {
            eprintln!("catalog: {why}");
        }
    }

    /// The reasons among `not` not told before.
    fn untold(&mut self, not: Vec<String>) -> Vec<String> {
        not.into_iter()
            .filter(|why| self.told.insert(why.clone()))
            .collect()
    }
}

/// How long after a failed look the next one waits (a catalog as stored that does not load
/// would otherwise be loaded every second).
const AFTER_A_FAILURE: Duration = Duration::from_secs(60);

/// What a look folded: the SKUs to forget (the stored catalog holds them), whether some
/// others are folded only in the served document so far, and why some were left out.
struct Looked {
    held: HashSet<String>,
    to_store: bool,
    not: Vec<String>,
}

/// Folds `waiting` into the catalog `handle` serves, `stored` being the catalog as stored.
fn fold(
    handle: &DocHandle,
    key: &str,
    fair: &str,
    waiting: Vec<CatalogProduct>,
    stored: Option<automerge::Automerge>,
) -> Result<Looked> {
    let (held, rest) = till_added::left_to_fold(waiting, stored, key, fair)?;
    let (served, not) = add_products(handle, key, fair, &rest)?;
    Ok(Looked {
        held,
        to_store: !served.is_empty(),
        not,
    })
}

/// [`add_products`] for the products a projection pass found new, saying why any was left
/// out.
pub(crate) fn add_new_products(
    handle: &DocHandle,
    key: &str,
    fair: &str,
    products: &[CatalogProduct],
) {
    match add_products(handle, key, fair, products) {
        Ok((_, not)) => not.iter().for_each(|why| eprintln!("catalog: {why}")),
        Err(e) => eprintln!("catalog: products tills added not folded in: {e}"),
    }
}

/// Folds the products tills added offline into the catalog document `handle` holds (those
/// the catalog has already, by SKU, left as they are; those a till would refuse the
/// catalog for left out: a ledger is whatever its till wrote). Returns the SKUs of
/// `products` the document then holds, and why any was left out (in words, for the log).
fn add_products(
    handle: &DocHandle,
    key: &str,
    fair: &str,
    products: &[CatalogProduct],
) -> Result<(HashSet<String>, Vec<String>)> {
    handle.with_document(|doc| {
        let mut catalog = CatalogDoc::open(key, fair, doc.fork())?;
        let fold = till_added::fold(products, &catalog.contents()?.products);
        if !fold.new.is_empty() {
            catalog.put(&fold.new, chrono::Utc::now().timestamp_millis())?;
            doc.merge(catalog.automerge_mut())
                .map_err(|e| Error::Other(format!("the served catalog: {e}")))?;
        }
        Ok((fold.held, fold.not))
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
    let look = |watch: &mut Watch| -> Result<()> {
        let kept = till_added::kept(conn)?;
        let Some((records, waiting)) = watch.to_look_at(&kept) else {
            return Ok(());
        };
        // What was kept when the look began: one kept meanwhile is looked at next time.
        if waiting.is_empty() {
            watch.ended(records, None);
            return Ok(());
        }
        let stored = load_document(conn, &document_id(key))?;
        let looked = fold(handle, key, fair, waiting, stored)?;
        till_added::forget(conn, &looked.held)?;
        watch.ended(records, Some(looked));
        Ok(())
    };
    if let Err(e) = look(watch) {
        watch.failed(&e);
    }
}

/// Looks at the products kept in PostgreSQL every [`LOOK_EVERY`], until the process stops.
pub(crate) async fn follow_on_postgres(pool: Pool, catalog: Arc<Catalog>) {
    let mut watch = Watch::default();
    loop {
        if let Err(e) = look_on_postgres(&pool, &catalog, &mut watch).await {
            watch.failed(&e);
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

async fn look_on_postgres(pool: &Pool, catalog: &Catalog, watch: &mut Watch) -> Result<()> {
    use fairpos_postgres::till_added as stored;
    let kept = stored::kept(pool).await?;
    let Some((records, waiting)) = watch.to_look_at(&kept) else {
        return Ok(());
    };
    if waiting.is_empty() {
        watch.ended(records, None);
        return Ok(());
    }
    let chunks = fairpos_postgres::documents::document_chunks(pool, &catalog.id).await?;
    // Loading and reading a province's catalog, off the async workers.
    let (handle, key, fair) = (
        catalog.handle.clone(),
        catalog.key.clone(),
        catalog.fair.clone(),
    );
    let shown = catalog.id.to_string();
    let looked = tokio::task::spawn_blocking(move || {
        let stored = fairpos_sync::samod_storage::load_chunks(&shown, &chunks)?;
        fold(&handle, &key, &fair, waiting, stored)
    })
    .await
    .map_err(|e| Error::Other(format!("folding the products tills added: {e}")))??;
    stored::forget(pool, &looked.held).await?;
    watch.ended(records, Some(looked));
    Ok(())
}

/// How often a process on PostgreSQL looks at the kept products (a SQLite headquarters looks
/// with its other checks, as often).
const LOOK_EVERY: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn the_kept_products_are_looked_at_when_they_change_or_wait_to_be_stored() {
        let mut watch = Watch::default();
        assert!(watch.due(&kept(&[])), "the first look");
        watch.looked(kept(&[]), false);
        assert!(!watch.due(&kept(&[])));
        assert!(watch.due(&kept(&["a"])), "one kept since");
        watch.looked(kept(&["a"]), true);
        assert!(watch.due(&kept(&["a"])), "folded, not stored yet: again");
        watch.looked(kept(&["a"]), false);
        assert!(!watch.due(&kept(&["a"])));
        // One forgotten and another kept between two looks: as many, but others.
        assert!(watch.due(&kept(&["b"])));
    }

    #[test]
    fn a_failed_look_waits_before_the_next_and_each_reason_is_told_once() {
        let mut watch = Watch::default();
        watch.failed(&Error::Other("the catalog does not load".into()));
        assert!(!watch.due(&kept(&["a"])), "not again at once");
        watch.not_before = Some(Instant::now());
        assert!(watch.due(&kept(&["a"])), "again once the wait is over");
        assert_eq!(watch.untold(vec!["x".into(), "y".into()]), ["x", "y"]);
        assert_eq!(watch.untold(vec!["x".into(), "z".into()]), ["z"]);
    }
}
