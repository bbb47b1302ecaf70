//! `hq bundle import`'s fold of the products tills added, kept for the catalog
//! ([`crate::till_added`]), into the catalog as the data directory stores it.

use std::collections::HashSet;

use fairpos_sync::catalog::CatalogProduct;

use crate::till_added;
use crate::{Hq, Result};

/// Folds `waiting` into the catalog as the data directory stores it (an edit, as `hq
/// catalog import` makes: a running `hq serve` merges it within a second) and says why
/// those it cannot take are left out. Returns the SKUs of `waiting` the stored catalog then
/// holds, for [`till_added::forget`] (on PostgreSQL, once the edit is stored there too), and
/// how many were folded.
pub fn fold_into_stored(hq: &Hq, waiting: &[CatalogProduct]) -> Result<(HashSet<String>, usize)> {
    let fold = till_added::fold(waiting, &super::load(hq)?.contents()?.products);
    for why in fold.not {
        eprintln!("catalog: {why}");
    }
    // Nothing new, no edit: each bumps the catalog's version, which serving processes merge.
    if !fold.new.is_empty() {
        super::edit(hq, |doc, at| {
            doc.put(&fold.new, at)?;
            Ok(())
        })?;
    }
    Ok((fold.held, fold.new.len()))
}
