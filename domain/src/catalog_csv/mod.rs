//! CSV files of a fair: catalog, stalls, sellers and purchasing units. Columns are found by
//! header name, a file is taken whole or not at all, and every refusal names the file line.
//! A column the header leaves out keeps, on a row updating one held (`..._over`), what that
//! row holds: a file of prices alone changes prices and clears nothing.
//! The catalog is read here; stalls, sellers and units in `fair_tables`.

use std::collections::HashMap;

use crate::catalog::Product;
use crate::codes::parse_gtin;
use crate::money::Fen;
use crate::DomainError;

mod fair_tables;

pub use self::fair_tables::{
    parse_sellers, parse_sellers_over, parse_stalls, parse_stalls_over, parse_units,
    parse_units_over, unknown_stalls, UNIT_KINDS,
};

/// A catalog row: the product and its stock on hand (pieces or grams).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogRow {
    pub product: Product,
    pub stock: i64,
}

/// The columns of a catalog file, in the order `export` writes them.
pub const CATALOG_COLUMNS: [&str; 15] = [
    "sku",
    "barcode",
    "plu",
    "name_zh",
    "name_en",
    "category",
    "unit",
    "price_yuan",
    "weighed",
    "origin_county_code",
    "origin_county_name",
    "supplier",
    "cert_no",
    "stall",
    "stock",
];

/// Rows of a CSV file with their header, looked up by column name.
struct Table<'a> {
    file: &'a str,
    columns: HashMap<String, usize>,
    rows: Vec<(u64, csv::StringRecord)>,
}

impl<'a> Table<'a> {
    fn read(file: &'a str, text: &str, required: &[&str]) -> Result<Table<'a>, DomainError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(text.as_bytes());
        let bad_csv = |why: String| DomainError::BadCsv {
            file: file.to_string(),
            why,
        };
        let headers = reader
            .headers()
            .map_err(|e| bad_csv(e.to_string()))?
            .clone();
        let mut columns = HashMap::new();
        for (i, h) in headers.iter().enumerate() {
            let name = h.trim().to_ascii_lowercase();
            if !name.is_empty() && columns.insert(name.clone(), i).is_some() {
                return Err(bad_csv(format!(
                    "column {name} appears twice in the header"
                )));
            }
        }
        for r in required {
            if !columns.contains_key(*r) {
                return Err(bad_csv(format!("no column named {r} in the header")));
            }
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                let why = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("{len} fields, the header has {expected_len}")
                    }
                    csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
                    _ => e.to_string(),
                };
                DomainError::BadCsvRow {
                    file: file.to_string(),
                    line,
                    why,
                }
            })?;
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            if record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            rows.push((line, record));
        }
        Ok(Table {
            file,
            columns,
            rows,
        })
    }

    /// Whether the header has `column`.
    fn has(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }

    fn get<'r>(&self, record: &'r csv::StringRecord, column: &str) -> &'r str {
        self.columns
            .get(column)
            .and_then(|&i| record.get(i))
            .map(str::trim)
            .unwrap_or("")
    }

    fn row_error(&self, line: u64, why: String) -> DomainError {
        DomainError::BadCsvRow {
            file: self.file.to_string(),
            line,
            why,
        }
    }
}

fn optional(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" | "n" | "否" => Some(false),
        "true" | "1" | "yes" | "y" | "是" => Some(true),
        _ => None,
    }
}

fn required(
    table: &Table,
    line: u64,
    record: &csv::StringRecord,
    column: &str,
) -> Result<String, DomainError> {
    let v = table.get(record, column);
    if v.is_empty() {
        return Err(table.row_error(line, format!("{column} is empty")));
    }
    Ok(v.to_string())
}

/// Reads a catalog CSV. `file` names it in error messages.
pub fn parse_catalog(file: &str, text: &str) -> Result<Vec<CatalogRow>, DomainError> {
    parse_catalog_over(file, text, &HashMap::new())
}

/// As [`parse_catalog`], for an import over the products `held` (by SKU): a row updating one
/// of them keeps what it holds in each column the header leaves out (its stock on hand too).
pub fn parse_catalog_over(
    file: &str,
    text: &str,
    held: &HashMap<String, CatalogRow>,
) -> Result<Vec<CatalogRow>, DomainError> {
    let table = Table::read(file, text, &["sku", "name_zh", "unit", "price_yuan"])?;
    let mut out: Vec<CatalogRow> = Vec::with_capacity(table.rows.len());
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (line, record) in &table.rows {
        let line = *line;
        let err = |why: String| table.row_error(line, why);
        let get = |c: &str| table.get(record, c);
        let sku = required(&table, line, record, "sku")?;
        let was = held.get(&sku);
        // A column the header lacks: the value held, else what an empty field means.
        let kept = |column: &str| !table.has(column) && was.is_some();
        let text_of = |column: &str, held: fn(&Product) -> &str| match was {
            Some(row) if kept(column) => held(&row.product).to_string(),
            _ => get(column).to_string(),
        };
        let barcode = match get("barcode") {
            _ if kept("barcode") => was.and_then(|r| r.product.barcode.clone()),
            "" => None,
            code => match parse_gtin(code) {
                Ok(Some(gtin)) => Some(gtin.catalog_form()),
                Ok(None) => {
                    return Err(err(format!(
                        "barcode {code:?} is not an EAN-13, EAN-8 or UPC-A"
                    )))
                }
                Err(e) => return Err(err(e.to_string())),
            },
        };
        let price_text = get("price_yuan");
        let price = Fen::parse_yuan(price_text).map_err(|e| err(format!("price_yuan: {e}")))?;
        let weighed = match was {
            Some(row) if kept("weighed") => row.product.weighed,
            _ => parse_bool(get("weighed"))
                .ok_or_else(|| err(format!("weighed {:?} is not true or false", get("weighed"))))?,
        };
        let plu = match was {
            Some(row) if kept("plu") => row.product.plu.clone(),
            _ => optional(get("plu")),
        };
        let cert_no = match was {
            Some(row) if kept("cert_no") => row.product.cert_no.clone(),
            _ => optional(get("cert_no")),
        };
        let product = Product {
            sku,
            barcode,
            plu,
            name_zh: required(&table, line, record, "name_zh")?,
            name_en: text_of("name_en", |p| &p.name_en),
            category: text_of("category", |p| &p.category),
            unit: required(&table, line, record, "unit")?,
            price,
            weighed,
            county_code: text_of("origin_county_code", |p| &p.county_code),
            county_name: text_of("origin_county_name", |p| &p.county_name),
            supplier: text_of("supplier", |p| &p.supplier),
            cert_no,
            stall: text_of("stall", |p| &p.stall),
        };
        product.validate().map_err(err)?;
        if let Some(row) = was.filter(|_| kept("stock")) {
            if row.product.weighed != weighed {
                return Err(err(format!(
                    "weighed changes for {}, so its stock on hand would change unit: give \
                     the stock column too",
                    row.product.sku
                )));
            }
        }
        let stock = match (get("stock"), was) {
            (_, Some(row)) if kept("stock") => row.stock,
            ("", _) => 0,
            (s, _) => product
                .base_qty_from_units(s)
                .map_err(|why| err(format!("stock: {why}")))?,
        };
        let mut keys = vec![format!("sku {}", product.sku)];
        keys.extend(product.barcode.iter().map(|b| format!("barcode {b}")));
        keys.extend(product.plu.iter().map(|p| format!("plu {p}")));
        for key in keys {
            if let Some(first) = seen.insert(key.clone(), line) {
                return Err(err(format!("{key} is already used on line {first}")));
            }
        }
        out.push(CatalogRow { product, stock });
    }
    Ok(out)
}

/// Whether the header of the table `text` has `column` (an import of a catalog without
/// `stock` keeps what the products it updates have on hand, as their stock moves with sales).
pub fn header_has(text: &str, column: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    reader
        .headers()
        .is_ok_and(|h| h.iter().any(|c| c.trim().eq_ignore_ascii_case(column)))
}

/// The barcodes and PLUs `rows` take from other products `held` that the rows do not give a
/// code of their own, in words (`barcode 6935780100128 moves from BJ-HJC-250 to X3, which
/// leaves BJ-HJC-250 without one`): an import moves them, which a typo in a file also does.
pub fn codes_taken(rows: &[CatalogRow], held: &HashMap<String, CatalogRow>) -> Vec<String> {
    let mut holder: HashMap<(&str, &str), &str> = HashMap::new();
    for row in held.values() {
        let p = &row.product;
        if let Some(code) = &p.barcode {
            holder.insert(("barcode", code.as_str()), &p.sku);
        }
        if let Some(code) = &p.plu {
            holder.insert(("PLU", code.as_str()), &p.sku);
        }
    }
    let in_file: HashMap<&str, &Product> = rows
        .iter()
        .map(|r| (r.product.sku.as_str(), &r.product))
        .collect();
    let mut said = Vec::new();
    for p in rows.iter().map(|r| &r.product) {
        let codes = [("barcode", &p.barcode), ("PLU", &p.plu)];
        for (kind, code) in codes.iter().filter_map(|(k, c)| Some((*k, c.as_deref()?))) {
            let Some(&from) = holder.get(&(kind, code)) else {
                continue;
            };
            // Given a new code of its own in the same file, the other product is not left
            // without one.
            let given_another = in_file.get(from).is_some_and(|other| {
                let theirs = if kind == "barcode" {
                    &other.barcode
                } else {
                    &other.plu
                };
                theirs.as_deref().is_some_and(|c| c != code)
            });
            if from != p.sku && !given_another {
                said.push(format!(
                    "{kind} {code} moves from {from} to {}, which leaves {from} without one",
                    p.sku
                ));
            }
        }
    }
    said
}

/// Writes a catalog CSV with the standard columns.
pub fn write_catalog(rows: &[CatalogRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CATALOG_COLUMNS)?;
    for CatalogRow { product: p, stock } in rows {
        let price = p.price.to_string();
        let stock = p.units_text(*stock);
        w.write_record([
            p.sku.as_str(),
            p.barcode.as_deref().unwrap_or(""),
            p.plu.as_deref().unwrap_or(""),
            &p.name_zh,
            &p.name_en,
            &p.category,
            &p.unit,
            &price,
            if p.weighed { "true" } else { "false" },
            &p.county_code,
            &p.county_name,
            &p.supplier,
            p.cert_no.as_deref().unwrap_or(""),
            &p.stall,
            &stock,
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::catalog::Stall;
    use crate::demo;
    use crate::sale::{Seller, Unit};

    #[test]
    fn the_demo_fair_reads_whole() {
        let rows = parse_catalog("catalog.csv", demo::CATALOG_CSV).unwrap();
        assert_eq!(rows.len(), 35);
        let kiwi = rows.iter().find(|r| r.product.sku == "HY-MHT-LB").unwrap();
        assert_eq!(kiwi.stock, 300 * 500);
        assert_eq!(kiwi.product.price, Fen(780));
        let duck = rows.iter().find(|r| r.product.sku == "ZJ-Y-1").unwrap();
        assert_eq!(duck.product.name_en, "Zhijiang Duck (whole, vacuum)");
        assert_eq!(parse_stalls("s", demo::STALLS_CSV).unwrap().len(), 6);
        assert_eq!(parse_sellers("s", demo::SELLERS_CSV).unwrap().len(), 8);
        assert_eq!(parse_units("u", demo::UNITS_CSV).unwrap().len(), 6);
    }

    #[test]
    fn a_file_of_a_few_columns_changes_those_and_keeps_the_rest() {
        let held: HashMap<String, CatalogRow> = parse_catalog("c", demo::CATALOG_CSV)
            .unwrap()
            .into_iter()
            .map(|r| (r.product.sku.clone(), r))
            .collect();
        let prices = "sku,name_zh,unit,price_yuan\nHY-MHT-LB,猕猴桃,斤,8.80\nNEW-1,新品,个,2.00\n";
        let rows = parse_catalog_over("prices.csv", prices, &held).unwrap();
        let (kiwi, was) = (&rows[0], &held["HY-MHT-LB"]);
        assert_eq!(kiwi.product.price, Fen(880));
        assert_eq!(kiwi.product.name_zh, "猕猴桃");
        // Weighed, its stock in grams, its barcode rule's PLU, county, stall: as held.
        assert!(kiwi.product.weighed);
        assert_eq!(kiwi.stock, was.stock);
        let kept = |p: &Product| {
            let p = p.clone();
            (
                p.plu,
                p.barcode,
                p.county_code,
                p.supplier,
                p.cert_no,
                p.stall,
                p.name_en,
            )
        };
        assert_eq!(kept(&kiwi.product), kept(&was.product));
        // A product not held takes what empty columns mean.
        let new = &rows[1].product;
        assert_eq!(
            (new.weighed, rows[1].stock, new.stall.as_str()),
            (false, 0, "")
        );
        // A column the file has, even empty, is taken as given.
        let cleared = "sku,name_zh,unit,price_yuan,stall\nHY-MHT-LB,猕猴桃,斤,8.80,\n";
        let rows = parse_catalog_over("c.csv", cleared, &held).unwrap();
        assert_eq!(rows[0].product.stall, "");
        assert!(!header_has(prices, "stock") && header_has(cleared, "STALL"));
        // Weighed changed with its stock kept would read grams as pieces: refused.
        let unweighed = "sku,name_zh,unit,price_yuan,weighed\nHY-MHT-LB,猕猴桃,斤,8.80,false\n";
        let e = parse_catalog_over("w.csv", unweighed, &held).unwrap_err();
        assert!(e.to_string().contains("give the stock column too"), "{e}");

        let sellers: HashMap<String, Seller> = parse_sellers("s", demo::SELLERS_CSV)
            .unwrap()
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let renamed = parse_sellers_over("s.csv", "id,name\nV004,刘洋\n", &sellers).unwrap();
        let was = &sellers["V004"];
        assert_eq!(
            (&renamed[0].team, &renamed[0].stall),
            (&was.team, &was.stall)
        );
        assert!(!was.team.is_empty());
        let stalls: HashMap<String, Stall> = parse_stalls("s", demo::STALLS_CSV)
            .unwrap()
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let renamed = parse_stalls_over("s.csv", "id,name\nS01,茶馆\n", &stalls).unwrap();
        assert_eq!(renamed[0].team, stalls["S01"].team);
        let units: HashMap<String, Unit> = parse_units("u", demo::UNITS_CSV)
            .unwrap()
            .into_iter()
            .map(|u| (u.tax_id.clone(), u))
            .collect();
        let (code, unit) = units.iter().find(|(_, u)| u.kind != "other").unwrap();
        let text = format!("tax_id,name\n{code},改名\n");
        let renamed = parse_units_over("u.csv", &text, &units).unwrap();
        assert_eq!(renamed[0].kind, unit.kind);
    }

    #[test]
    fn codes_taken_from_other_products_are_told() {
        let held: HashMap<String, CatalogRow> = parse_catalog("c", demo::CATALOG_CSV)
            .unwrap()
            .into_iter()
            .map(|r| (r.product.sku.clone(), r))
            .collect();
        let file = "sku,name_zh,unit,price_yuan,barcode,plu\n\
                    X3,乙,个,12.0,6935780100128,\nX4,丙,斤,3.0,,10021\n";
        let rows = parse_catalog_over("c.csv", file, &held).unwrap();
        assert_eq!(
            codes_taken(&rows, &held),
            [
                "barcode 6935780100128 moves from BJ-HJC-250 to X3, which leaves BJ-HJC-250 \
                 without one",
                "PLU 10021 moves from HY-MHT-LB to X4, which leaves HY-MHT-LB without one"
            ]
        );
        // Swapped within the file, or kept by their own product: nothing to tell.
        let swap = "sku,name_zh,unit,price_yuan,plu\nHY-MHT-LB,猕猴桃,斤,7.80,10099\n\
                    X4,丙,斤,3.0,10021\n";
        let rows = parse_catalog_over("c.csv", swap, &held).unwrap();
        assert!(codes_taken(&rows, &held).is_empty());
        let same = parse_catalog_over("c.csv", demo::CATALOG_CSV, &held).unwrap();
        assert!(codes_taken(&same, &held).is_empty());
    }

    #[test]
    fn columns_are_found_by_name_and_text_kept_intact() {
        let text = "price_yuan,name_zh,sku,unit,supplier\n\
                    12.00,\"𠮷野家, 𪚥 \"\"特制\"\"\",X-1,个,\"a,b\"\n";
        let rows = parse_catalog("c.csv", text).unwrap();
        assert_eq!(rows[0].product.name_zh, "𠮷野家, 𪚥 \"特制\"");
        assert_eq!(rows[0].product.supplier, "a,b");
        let back = String::from_utf8(write_catalog(&rows).unwrap()).unwrap();
        let again = parse_catalog("c.csv", &back).unwrap();
        assert_eq!(again, rows);
    }

    #[test]
    fn a_bad_row_is_named_by_its_file_line() {
        let text = "sku,name_zh,unit,price_yuan\nA,甲,个,1.00\nB,乙,个,1.005\n";
        let err = parse_catalog("c.csv", text).unwrap_err().to_string();
        assert!(err.starts_with("c.csv line 3: price_yuan"), "{err}");
        let text = "sku,name_zh,unit,price_yuan,barcode\nA,甲,个,1.00,6935780100129\n";
        let err = parse_catalog("c.csv", text).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("check digit"),
            "{err}"
        );
        let text = "sku,name_zh,unit\nA,甲,个\n";
        let err = parse_catalog("c.csv", text).unwrap_err().to_string();
        assert_eq!(err, "c.csv: no column named price_yuan in the header");
        let text = "sku,name_zh,unit,price_yuan\nA,甲,个,1\nA,乙,个,2\n";
        let err = parse_catalog("c.csv", text).unwrap_err().to_string();
        assert!(
            err.contains("line 3: sku A is already used on line 2"),
            "{err}"
        );
        let text = "name,tax_id,kind\n中南大学,12430000444883027X,school\n";
        let err = parse_units("u.csv", text).unwrap_err().to_string();
        assert!(err.starts_with("u.csv line 2: bad credit code"), "{err}");
    }

    #[test]
    fn stalls_the_fair_lacks_are_told_once_each_with_a_few_rows() {
        let held = HashSet::from(["S01".to_string()]);
        let rows = [
            ("S01", "A"),
            ("S99", "B"),
            ("", "C"),
            ("S98", "D"),
            ("S99", "E"),
            ("S99", "F"),
            ("S99", "G"),
            ("S99", "H"),
        ];
        let said = unknown_stalls(rows.into_iter(), &held, "products");
        assert_eq!(
            said,
            [
                "stall S98 is not among the fair's stalls (products D): import the stall, or \
                 correct the code",
                "stall S99 is not among the fair's stalls (products B, E, F and 2 more): import \
                 the stall, or correct the code",
            ]
        );
        assert!(unknown_stalls(rows[..1].iter().copied(), &held, "sellers").is_empty());
        let none_yet = unknown_stalls(rows.into_iter(), &HashSet::new(), "sellers");
        assert!(none_yet.is_empty(), "the stalls not imported yet");
    }
}
