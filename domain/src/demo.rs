//! The demo fair shipped inside the binary (`fixtures/demo-fair`): 35 products from Hunan
//! counties, six stalls, eight volunteer sellers in four teams, six purchasing units.

use crate::catalog::Product;
use crate::catalog_csv::parse_catalog;
use crate::DomainError;

pub const FAIR_TOML: &str = include_str!("../../fixtures/demo-fair/fair.toml");
pub const CATALOG_CSV: &str = include_str!("../../fixtures/demo-fair/catalog.csv");
pub const STALLS_CSV: &str = include_str!("../../fixtures/demo-fair/stalls.csv");
pub const SELLERS_CSV: &str = include_str!("../../fixtures/demo-fair/sellers.csv");
pub const UNITS_CSV: &str = include_str!("../../fixtures/demo-fair/units.csv");

/// The demo fair's products.
pub fn products() -> Result<Vec<Product>, DomainError> {
    Ok(parse_catalog("catalog.csv", CATALOG_CSV)?
        .into_iter()
        .map(|r| r.product)
        .collect())
}
