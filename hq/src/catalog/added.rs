//! `hq bundle import`'s fold of the products tills added, kept for the catalog
//! ([`crate::till_added`]), into the catalog as the data directory stores it.

use std::collections::HashSet;

use fairpos_sync::catalog::CatalogProduct;

use crate::till_added::{self, forget, waiting};
use crate::{Hq, Result};

/// Folds `waiting` into the catalog as the data directory stores it (an edit, as `hq
/// catalog import` makes: a running `hq serve` merges it within a second) and says why
/// those it cannot take are left out. Returns the SKUs of `waiting` the stored catalog then
/// holds, for [`forget`] (on PostgreSQL, once the edit is stored there too), and how many
/// were folded.
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

/// What `hq bundle import` does after projecting a bundle into a SQLite headquarters: the
/// products tills added that are kept (the bundle's, and any a fold left undone) folded into
/// the catalog. A hub keeps its fair's catalog as
/// headquarters gives it, and folds nothing.
pub fn fold_after_import(hq: &Hq) -> Result<usize> {
    if hq.role != crate::Role::Hq {
        return Ok(0);
    }
    let waiting = waiting(&hq.conn)?;
    if waiting.is_empty() {
        return Ok(0);
    }
    let (held, folded) = fold_into_stored(hq, &waiting)?;
    forget(&hq.conn, &held)?;
    Ok(folded)
}
