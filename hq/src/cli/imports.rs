//! `hq catalog import`, `hq stalls import`, `hq sellers import`, `hq units import`: a file
//! read over what headquarters holds (once caught up with the database), so that a column the
//! file leaves out keeps what the rows it updates hold, then imported into the fair's catalog
//! document and tables. And `hq bundle import`: a USB stick's ledgers, then the products
//! tills added folded into the catalog as those imports edit it.

use std::path::Path;

use fairpos_domain::catalog_csv;
use fairpos_projection::catalog as tables;
use fairpos_sync::catalog::{CatalogSeller, CatalogStall, CatalogUnit};

use super::kit::{file_label, read_table, warn_of_unknown_stalls};
use super::postgres;
use crate::bundles;
use crate::catalog::{self, wire};
use crate::{Error, Hq, Result};

/// Runs `import` on the catalog of the headquarters in `dir`, refused on a hub as
/// `refused_on_a_hub` names it (when it does). On PostgreSQL, the catalog is caught up with
/// the database's first, so that the import follows every edit made through any data
/// directory, and stored there after.
pub(super) fn import_into(
    dir: &Path,
    refused_on_a_hub: Option<&str>,
    import: impl FnOnce(&Hq) -> Result<()>,
) -> Result<()> {
    let hq = Hq::open(dir)?;
    // Headquarters' to change: on a hub, an edit reached the venue's tills, and never
    // headquarters, which takes no catalog from a hub.
    if let Some(what) = refused_on_a_hub {
        super::not_on_a_hub(&hq, dir, what)?;
    }
    let database = crate::meta(&hq.conn, postgres::META_DATABASE)?;
    if let Some(url) = &database {
        postgres::catch_up_catalog(&hq, url)?;
    }
    import(&hq)?;
    if let Some(url) = &database {
        postgres::store_catalog(&hq, url).map_err(|e| {
            Error::Other(format!(
                "imported into {}, but not stored in the database yet ({e}); the next \
                 import, or `hq serve` starting, stores it",
                dir.display()
            ))
        })?;
    }
    Ok(())
}

/// `hq bundle import FILE`: verified, stored and projected as a sync's ledgers are, then the
/// products tills added that are kept folded into the catalog.
pub(super) fn bundle(
    dir: &Path,
    file: &Path,
    max_document: &str,
    max_documents_per_device: u64,
    max_bundle: &str,
) -> Result<()> {
    let limits = crate::limits::DocumentLimits {
        max_bytes: crate::limits::parse_size("--max-document", max_document)?,
        per_device: max_documents_per_device,
    };
    let largest = crate::limits::parse_size("--max-bundle", max_bundle)?;
    let bundle = super::kit::read_bundle(file, largest, "more than --max-bundle allows")?;
    let hq = Hq::open(dir)?;
    let database = crate::meta(&hq.conn, postgres::META_DATABASE)?;
    let told = |done, of| eprintln!("importing: {done} of {of} ledgers stored and projected");
    let progress = crate::progress::paced(crate::progress::Pace::OPERATOR, told);
    let imported = match &database {
        Some(url) => {
            let (fair, bundle, limits) = (&hq.fair.id, &bundle, &limits);
            postgres::with_pool(url, |pool| async move {
                bundles::import_postgres(&pool, fair, bundle, limits, progress).await
            })
        }
        None => bundles::import(&hq, &bundle, &limits, progress),
    };
    // Also after a ledger was refused: those projected before it kept theirs.
    // Kept until folded, they are folded by `hq serve` if not here.
    match products_tills_added(dir, database.as_deref()) {
        Ok(0) => {}
        Ok(n) => println!("{n} products tills added folded into the fair's catalog"),
        Err(e) => eprintln!(
            "warning: the products tills added are not in the catalog yet ({e}); \
             `hq serve` folds them in, within a second while it serves"
        ),
    }
    let imported = imported?;
    println!(
        "bundle from {} imported: {} documents, {} new records",
        bundle.source, imported.documents, imported.new_records
    );
    for (key, why) in &imported.refused {
        eprintln!("refused {key}: {why}");
    }
    match imported.refused.len() {
        0 => Ok(()),
        n => Err(Error::input(format!(
            "{n} of the bundle's ledgers refused (above), the others imported"
        ))),
    }
}

/// After `hq bundle import`: the products tills added that are kept ([`crate::till_added`]:
/// the bundle's, and any a fold left undone; a hub keeps none) folded into the catalog
/// ([`catalog::added`]) as the other imports edit it ([`import_into`]: on PostgreSQL, the
/// catalog caught up with the database's first and stored there after), then forgotten.
/// Returns how many were folded.
pub(super) fn products_tills_added(dir: &Path, database: Option<&str>) -> Result<usize> {
    use fairpos_postgres::till_added as in_postgres;
    let kept = match database {
        Some(url) => {
            postgres::with_pool(
                url,
                |pool| async move { Ok(in_postgres::kept(&pool).await?) },
            )?
        }
        None => crate::till_added::kept(&Hq::open(dir)?.conn)?,
    };
    let waiting = crate::till_added::read_all(&kept);
    if waiting.is_empty() {
        return Ok(0);
    }
    let mut folded = (Default::default(), 0);
    import_into(dir, None, |hq| {
        folded = catalog::added::fold_into_stored(hq, &waiting)?;
        Ok(())
    })?;
    let (held, folded) = folded;
    match database {
        Some(url) => postgres::with_pool(url, |pool| async move {
            Ok(in_postgres::forget(&pool, &held).await?)
        })?,
        None => crate::till_added::forget(&Hq::open(dir)?.conn, &held)?,
    }
    Ok(folded)
}

pub(super) fn catalog(dir: &Path, file: &Path) -> Result<()> {
    let (label, text, mut n) = (file_label(file), read_table(file)?, 0);
    import_into(dir, Some("import the catalog"), |hq| {
        let held = tables::rows(&hq.conn)?.into_iter();
        let held = held.map(|r| (r.product.sku.clone(), r)).collect();
        let rows = catalog_csv::parse_catalog_over(&label, &text, &held)?;
        for unread in catalog_csv::unread_columns(&text) {
            eprintln!("warning: {unread}");
        }
        for moved in catalog_csv::codes_taken(&rows, &held) {
            eprintln!("warning: {moved}");
        }
        let stalls = rows
            .iter()
            .map(|r| (r.product.stall.as_str(), &*r.product.sku));
        warn_of_unknown_stalls(&hq.conn, stalls, "products")?;
        n = rows.len();
        catalog::import_products(hq, &rows, !catalog_csv::header_has(&text, "stock"))
    })?;
    println!("{n} products imported into the fair's catalog");
    Ok(())
}

pub(super) fn stalls(dir: &Path, file: &Path) -> Result<()> {
    let (label, text, mut n) = (file_label(file), read_table(file)?, 0);
    import_into(dir, Some("import the stalls"), |hq| {
        let held = tables::stalls(&hq.conn)?.into_iter();
        let held = held.map(|s| (s.id.clone(), s)).collect();
        let rows = catalog_csv::parse_stalls_over(&label, &text, &held)?;
        n = rows.len();
        catalog::import(hq, &wire::<_, CatalogStall>(&rows))
    })?;
    println!("{n} stalls imported");
    Ok(())
}

pub(super) fn sellers(dir: &Path, file: &Path) -> Result<()> {
    let (label, text, mut n) = (file_label(file), read_table(file)?, 0);
    import_into(dir, Some("import the sellers"), |hq| {
        let held = tables::sellers(&hq.conn)?.into_iter();
        let held = held.map(|s| (s.id.clone(), s)).collect();
        let rows = catalog_csv::parse_sellers_over(&label, &text, &held)?;
        let stalls = rows.iter().map(|s| (s.stall.as_str(), s.id.as_str()));
        warn_of_unknown_stalls(&hq.conn, stalls, "sellers")?;
        n = rows.len();
        catalog::import(hq, &wire::<_, CatalogSeller>(&rows))
    })?;
    println!("{n} sellers imported");
    Ok(())
}

pub(super) fn units(dir: &Path, file: &Path) -> Result<()> {
    let (label, text, mut n) = (file_label(file), read_table(file)?, 0);
    import_into(dir, Some("import the units"), |hq| {
        let held = tables::units(&hq.conn)?.into_iter();
        let held = held.map(|u| (u.tax_id.clone(), u)).collect();
        let rows = catalog_csv::parse_units_over(&label, &text, &held)?;
        n = rows.len();
        catalog::import(hq, &wire::<_, CatalogUnit>(&rows))
    })?;
    println!("{n} units imported");
    Ok(())
}
