//! Products as the fair sells them, and the lookups a till needs.

use std::collections::HashMap;

use serde::Serialize;

use crate::money::Fen;
use crate::DomainError;

/// The most characters a field of the fair's tables holds (a product's name, a stall's, a
/// supplier's, an id): an import refuses a file with a longer one, and a till a catalog.
pub const LONGEST_FIELD: usize = 300;

/// Why `text`, the field `what`, is longer than [`LONGEST_FIELD`] characters, if it is.
pub fn longer_than_a_field(what: &str, text: &str) -> Option<String> {
    let n = text.chars().count();
    (n > LONGEST_FIELD).then(|| format!("{what} is {n} characters; at most {LONGEST_FIELD}"))
}

/// The most entries of one kind (products, stalls, sellers, units) a till takes in a catalog.
pub const MOST_ENTRIES: usize = 200_000;

/// A product. Its serde form (`--json` output) names its fields as the fair's catalog file
/// does, with money in integer fen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Product {
    pub sku: String,
    /// EAN-13 (UPC-A stored with a leading zero, EAN-8 as is); none for weighed goods.
    pub barcode: Option<String>,
    /// Price look-up number of weighed goods, as printed in scale labels.
    pub plu: Option<String>,
    pub name_zh: String,
    pub name_en: String,
    pub category: String,
    /// Sales unit: 盒, 袋, ... or, for weighed goods, 斤, kg, ...
    pub unit: String,
    /// Per piece, or per `unit` for weighed goods.
    #[serde(rename = "price_fen")]
    pub price: Fen,
    pub weighed: bool,
    /// GB/T 2260 county code and name of origin.
    #[serde(rename = "origin_county_code")]
    pub county_code: String,
    #[serde(rename = "origin_county_name")]
    pub county_name: String,
    pub supplier: String,
    /// Poverty-alleviation product certificate.
    pub cert_no: Option<String>,
    pub stall: String,
}

/// A stall of the fair and the competition team it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    pub id: String,
    pub name: String,
    pub team: String,
}

/// Grams in one weight unit; `None` for units that are not weights.
pub fn grams_per_unit(unit: &str) -> Option<i64> {
    match unit.trim() {
        "斤" => Some(500),
        "两" => Some(50),
        "kg" | "KG" | "Kg" | "公斤" | "千克" => Some(1000),
        "g" | "克" => Some(1),
        _ => None,
    }
}

impl Product {
    /// Grams per sales unit of a weighed product.
    pub fn grams_per_unit(&self) -> Option<i64> {
        if self.weighed {
            grams_per_unit(&self.unit)
        } else {
            None
        }
    }

    /// Stock in base quantity (pieces, or grams for weighed goods) from a count in the
    /// product's own unit, which may carry up to three decimals for weighed goods.
    pub fn base_qty_from_units(&self, text: &str) -> Result<i64, String> {
        match self.grams_per_unit() {
            // Below zero as a catalog export writes an oversold weighed product's stock
            // (`-1.5`), which its import refused: the round trip broke once one oversold.
            Some(g) => {
                let t = text.trim();
                let (sign, t) = match t.strip_prefix('-') {
                    Some(rest) => (-1, rest),
                    None => (1, t),
                };
                parse_milli(t)
                    .map(|milli| sign * ((milli * g + 500) / 1000))
                    .ok_or_else(|| format!("{text:?} is not a number with at most 3 decimals"))
            }
            None => match text.trim().parse::<i64>() {
                Ok(n) if n.unsigned_abs() <= MAX_PIECES as u64 => Ok(n),
                Ok(_) => Err(format!("{text:?} is more than 12 digits")),
                Err(_) => Err(format!("{text:?} is not a whole number")),
            },
        }
    }

    /// Base quantity (pieces or grams) written in the product's unit: `12`, `297.5`.
    pub fn units_text(&self, base: i64) -> String {
        match self.grams_per_unit() {
            Some(g) => grams_in_units(base, g),
            None => base.to_string(),
        }
    }

    /// Checks what a catalog row must satisfy beyond its types.
    pub fn validate(&self) -> Result<(), String> {
        let texts = [
            ("sku", Some(&self.sku)),
            ("barcode", self.barcode.as_ref()),
            ("plu", self.plu.as_ref()),
            ("name_zh", Some(&self.name_zh)),
            ("name_en", Some(&self.name_en)),
            ("category", Some(&self.category)),
            ("unit", Some(&self.unit)),
            ("origin_county_code", Some(&self.county_code)),
            ("origin_county_name", Some(&self.county_name)),
            ("supplier", Some(&self.supplier)),
            ("cert_no", self.cert_no.as_ref()),
            ("stall", Some(&self.stall)),
        ];
        let too_long = texts
            .into_iter()
            .find_map(|(field, text)| longer_than_a_field(field, text?));
        if let Some(why) = too_long {
            return Err(why);
        }
        if self.sku.trim().is_empty() {
            return Err("sku is empty".into());
        }
        if self.sku.contains('*') || self.sku.chars().any(char::is_whitespace) {
            return Err(format!("sku {:?} must not contain '*' or spaces", self.sku));
        }
        if self.name_zh.trim().is_empty() {
            return Err("name_zh is empty".into());
        }
        if self.weighed {
            if self.grams_per_unit().is_none() {
                return Err(format!(
                    "weighed product has unit {:?}; use 斤, 两, kg, 公斤, 千克, g or 克",
                    self.unit
                ));
            }
            if self.plu.is_none() {
                return Err("weighed product has no plu".into());
            }
        } else if self.barcode.is_none() {
            // Fine: sold by SKU from the touchscreen.
        }
        if let Some(plu) = &self.plu {
            if plu.is_empty() || !plu.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("plu {plu:?} is not digits"));
            }
        }
        Ok(())
    }
}

/// The most pieces a count of stock may say: 12 digits, as the whole part of a weighed
/// count ([`parse_milli`]), so that stock and what is sold of it add up far from overflow.
const MAX_PIECES: i64 = 999_999_999_999;

/// Parses a non-negative decimal with at most three places into thousandths.
pub fn parse_milli(text: &str) -> Option<i64> {
    let t = text.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty()
        || whole.len() > 12
        || frac.len() > 3
        || (t.contains('.') && frac.is_empty())
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut milli = whole.parse::<i64>().ok()? * 1000;
    for (i, b) in frac.bytes().enumerate() {
        milli += i64::from(b - b'0') * 10_i64.pow(2 - i as u32);
    }
    Some(milli)
}

/// `grams` written in units of `g` grams (a weighed product's unit), to the thousandth,
/// cut: `297.5` for 148 750 g in 斤. Exact for any `i64`, where `grams * 1000` would pass
/// it (a unit's line net of refunds that tills forged by the ledgerful).
pub fn grams_in_units(grams: i64, g: i64) -> String {
    milli_text(i128::from(grams) * 1000 / i128::from(g.max(1)))
}

/// Thousandths written as a short decimal: 1500 -> `1.5`, -250 -> `-0.25`.
fn milli_text(milli: i128) -> String {
    let sign = if milli < 0 { "-" } else { "" };
    let abs = milli.unsigned_abs();
    let frac = abs % 1000;
    if frac == 0 {
        format!("{sign}{}", abs / 1000)
    } else {
        let f = format!("{frac:03}");
        format!("{sign}{}.{}", abs / 1000, f.trim_end_matches('0'))
    }
}

/// The products of a till, indexed for scanning.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    products: Vec<Product>,
    by_sku: HashMap<String, usize>,
    by_barcode: HashMap<String, usize>,
    by_plu: HashMap<String, usize>,
}

impl Catalog {
    /// Indexes `products`; SKUs, barcodes and PLUs must each be unique.
    pub fn new(products: Vec<Product>) -> Result<Catalog, DomainError> {
        let mut catalog = Catalog {
            products: Vec::with_capacity(products.len()),
            ..Catalog::default()
        };
        for p in products {
            let i = catalog.products.len();
            let dup = |what: &str, value: &str| {
                DomainError::BadCatalog(format!("{what} {value} is used by two products"))
            };
            if catalog.by_sku.insert(p.sku.clone(), i).is_some() {
                return Err(dup("sku", &p.sku));
            }
            if let Some(b) = &p.barcode {
                if catalog.by_barcode.insert(b.clone(), i).is_some() {
                    return Err(dup("barcode", b));
                }
            }
            if let Some(plu) = &p.plu {
                if catalog.by_plu.insert(plu.clone(), i).is_some() {
                    return Err(dup("plu", plu));
                }
            }
            catalog.products.push(p);
        }
        Ok(catalog)
    }

    pub fn products(&self) -> &[Product] {
        &self.products
    }

    pub fn by_sku(&self, sku: &str) -> Option<&Product> {
        self.by_sku.get(sku).map(|&i| &self.products[i])
    }

    pub fn by_barcode(&self, barcode: &str) -> Option<&Product> {
        self.by_barcode.get(barcode).map(|&i| &self.products[i])
    }

    /// PLUs match by value, so `10021` and `010021` are the same look-up; a PLU written as
    /// one product holds it is that product. Two products holding the value otherwise (a
    /// catalog from before PLUs were kept apart by value) are none: which was meant cannot
    /// be told, and the first was sold at its price.
    pub fn by_plu(&self, plu: &str) -> Option<&Product> {
        if let Some(&i) = self.by_plu.get(plu) {
            return Some(&self.products[i]);
        }
        let value = plu_value(plu);
        let mut holding =
            (self.products.iter()).filter(|p| p.plu.as_deref().map(plu_value) == Some(value));
        match (holding.next(), holding.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }
}

/// A PLU's value: its digits without leading zeros. A scale's label carries the PLU at the
/// label's width (`00012`), so `12` and `0012` are one PLU, which no two products may hold.
pub fn plu_value(plu: &str) -> &str {
    plu.trim_start_matches('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_in_thousandths() {
        assert_eq!(parse_milli("1.5"), Some(1500));
        assert_eq!(parse_milli("0.125"), Some(125));
        assert_eq!(parse_milli("300"), Some(300_000));
        assert_eq!(parse_milli("1.2345"), None);
        assert_eq!(parse_milli("-1"), None);
        assert_eq!(grams_in_units(1_500, 1000), "1.5");
        assert_eq!(grams_in_units(297_532, 1000), "297.532");
        assert_eq!(grams_in_units(-250, 1000), "-0.25");
        assert_eq!(grams_in_units(3_000, 1000), "3");
        assert_eq!(grams_in_units(148_750, 500), "297.5");
        assert_eq!(grams_in_units(-125, 1000), "-0.125");
        // A stock or a quantity whose thousandths pass i64 is still written exactly.
        assert_eq!(grams_in_units(i64::MAX, 1), "9223372036854775807");
        assert_eq!(grams_in_units(i64::MIN, 500), "-18446744073709551.616");
    }

    #[test]
    fn a_text_longer_than_a_till_takes_is_refused() {
        let mut p = crate::demo::products().unwrap().remove(0);
        p.supplier = "长".repeat(LONGEST_FIELD);
        assert_eq!(p.validate(), Ok(()));
        p.supplier.push('长');
        assert_eq!(
            p.validate(),
            Err("supplier is 301 characters; at most 300".to_string())
        );
    }

    #[test]
    fn a_count_of_stock_has_12_digits_at_most() {
        let mut p = crate::demo::products().unwrap().remove(0);
        p.weighed = false;
        assert_eq!(p.base_qty_from_units("999999999999"), Ok(999_999_999_999));
        assert_eq!(p.base_qty_from_units("-12"), Ok(-12));
        let e = p.base_qty_from_units("9223372036854775807").unwrap_err();
        assert!(e.contains("more than 12 digits"), "{e}");
        assert!(p.base_qty_from_units("-1000000000000").is_err());
        assert!(p.base_qty_from_units("-9223372036854775808").is_err());
        assert!(p.base_qty_from_units("1.5").is_err());
        // A weighed product's oversold stock, as the export writes it, reads back.
        p.weighed = true;
        p.unit = "斤".into();
        let grams = p.base_qty_from_units("-1.5").unwrap();
        assert_eq!(grams, -750);
        assert_eq!(p.base_qty_from_units(&p.units_text(grams)), Ok(-750));
        assert!(p.base_qty_from_units("--1").is_err());
    }

    /// A scale label's PLU (`00012`) is the one product holding its value, as written or
    /// not; two holding it are none (the first was sold at its price).
    #[test]
    fn a_plu_is_found_by_its_value_when_one_product_holds_it() {
        let product = |sku: &str, plu: &str| {
            let mut p = crate::demo::products().unwrap().remove(0);
            (p.sku, p.barcode, p.plu) = (sku.into(), None, Some(plu.into()));
            p
        };
        let one = Catalog::new(vec![product("A", "12"), product("C", "13")]).unwrap();
        assert_eq!(one.by_plu("00012").map(|p| p.sku.as_str()), Some("A"));
        let two = Catalog::new(vec![product("A", "12"), product("B", "0012")]).unwrap();
        assert_eq!(two.by_plu("00012").map(|p| p.sku.as_str()), None);
        assert_eq!(
            two.by_plu("0012").map(|p| p.sku.as_str()),
            Some("B"),
            "as written"
        );
        assert_eq!(two.by_plu("12").map(|p| p.sku.as_str()), Some("A"));
    }

    #[test]
    fn weight_units() {
        assert_eq!(grams_per_unit("斤"), Some(500));
        assert_eq!(grams_per_unit("kg"), Some(1000));
        assert_eq!(grams_per_unit("盒"), None);
    }
}
