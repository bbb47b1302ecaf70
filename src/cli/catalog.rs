//! `fairpos catalog …`: the till's products imported, exported, searched, listed and added;
//! what catalogs and tills wrote shown with its escapes written out.

use std::path::Path;

use fairpos_domain::catalog::Catalog;
use fairpos_domain::catalog_csv::{self, CatalogRow};
use fairpos_domain::search::ProductIndex;
use fairpos_domain::text::shown;
use fairpos_hq::cli::kit::{self, file_label, read_table};
use fairpos_projection::catalog as catalog_tables;

use super::args::CatalogCommand;
use super::views::ProductView;
use super::{print_json, remote, write_output};
use crate::error::{Error, Result};
use crate::till::Till;

pub(super) fn catalog(dir: &Path, c: CatalogCommand) -> Result<()> {
    match c {
        CatalogCommand::Add(a) => remote::add_product(dir, a),
        CatalogCommand::Import { file } => {
            let mut till = Till::open(dir)?;
            let held = catalog_tables::rows(till.reader()?)?.into_iter();
            let held = held.map(|r| (r.product.sku.clone(), r)).collect();
            let text = read_table(&file)?;
            let rows = catalog_csv::parse_catalog_over(&file_label(&file), &text, &held)?;
            for unread in catalog_csv::unread_columns(&text) {
                eprintln!("warning: {unread}");
            }
            for moved in catalog_csv::codes_taken(&rows, &held) {
                eprintln!("warning: {moved}");
            }
            let stalls = rows.iter().map(|r| (&*r.product.stall, &*r.product.sku));
            kit::warn_of_unknown_stalls(till.reader()?, stalls, "products")?;
            let (added, updated) = if catalog_csv::header_has(&text, "stock") {
                till.import_catalog(&rows)?
            } else {
                till.import_catalog_keeping_stock(&rows)?
            };
            println!("{added} products added, {updated} updated");
            Ok(())
        }
        CatalogCommand::Export { file } => {
            let mut till = Till::open(dir)?;
            let rows = catalog_tables::rows(till.reader()?)?;
            let bytes = catalog_csv::write_catalog(&rows)
                .map_err(|e| Error::Other(format!("writing CSV: {e}")))?;
            write_output(&file, &bytes)
        }
        CatalogCommand::Search { query, json } => {
            let mut till = Till::open(dir)?;
            let rows = catalog_tables::rows(till.reader()?)?;
            let catalog = Catalog::new(rows.iter().map(|r| r.product.clone()).collect())?;
            let found: Vec<_> = ProductIndex::new(&catalog)
                .find(&query, None)
                .into_iter()
                .map(|i| &rows[i])
                .collect();
            if json {
                return print_json(&found.into_iter().map(ProductView::new).collect::<Vec<_>>());
            }
            print_products(found, false);
            Ok(())
        }
        CatalogCommand::List(f) => {
            let mut till = Till::open(dir)?;
            let rows = catalog_tables::rows(till.reader()?)?;
            if f.json {
                print_json(&rows.iter().map(ProductView::new).collect::<Vec<_>>())
            } else {
                print_products(&rows, true);
                Ok(())
            }
        }
    }
}

/// Each product on a line: its SKU, price per unit, stock on hand (when `stock` asks) and
/// name, what catalogs and tills wrote shown with its escapes written out.
fn print_products<'a>(rows: impl IntoIterator<Item = &'a CatalogRow>, stock: bool) {
    for r in rows {
        let p = &r.product;
        let stock = if stock {
            format!("stock {:>8}  ", p.units_text(r.stock))
        } else {
            String::new()
        };
        println!(
            "{:<12} {:>9}/{}  {stock}{}",
            shown(&p.sku),
            p.price.to_string(),
            shown(&p.unit),
            shown(&p.name_zh)
        );
    }
}
