//! CSV files of a fair: catalog, stalls, sellers and purchasing units. Columns are found by
//! header name, a file is taken whole or not at all, and a refusal names every file line
//! refused (each row is read whatever the rows before it hold).
//! A column the header leaves out keeps, on a row updating one held (`..._over`), what that
//! row holds: a file of prices alone changes prices and clears nothing.
//! The catalog is read here; stalls, sellers and units in `fair_tables`.

use std::collections::HashMap;

use crate::catalog::{longer_than_a_field, plu_value, Product};
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
    /// The rows that could not be read as fields (`(line, why)`).
    unreadable: Vec<(u64, String)>,
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
        let (mut rows, mut unreadable) = (Vec::new(), Vec::new());
        for record in reader.records() {
            let record = match record {
                Ok(record) => record,
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    let why = match e.kind() {
                        csv::ErrorKind::UnequalLengths {
                            expected_len, len, ..
                        } => format!("{len} fields, the header has {expected_len}"),
                        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
                        // An error of the reader itself: nothing after it can be read.
                        _ => return Err(bad_csv(e.to_string())),
                    };
                    unreadable.push((line, why));
                    continue;
                }
            };
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
            unreadable,
        })
    }

    /// `parse` (a row's line and fields to the row, or why it is refused) run on every row
    /// read, in the file's order; refused when any row is unreadable or refused, naming
    /// every such row ([`DomainError::BadCsvRows`] when there are several).
    fn each_row<T>(
        &self,
        read: &[&str],
        mut parse: impl FnMut(u64, &csv::StringRecord) -> Result<T, String>,
    ) -> Result<Vec<T>, DomainError> {
        let mut refused = self.unreadable.clone();
        let mut rows = Vec::with_capacity(self.rows.len());
        for (line, record) in &self.rows {
            match self
                .too_long(record, read)
                .map_or_else(|| parse(*line, record), Err)
            {
                Ok(row) => rows.push(row),
                Err(why) => refused.push((*line, why)),
            }
        }
        match DomainError::csv_rows(self.file, refused) {
            None => Ok(rows),
            Some(refusal) => Err(refusal),
        }
    }

    /// Why a field of `record` in one of the columns `read` is longer than a field of the
    /// fair's tables may be, if one is (a column the table does not read is not kept).
    fn too_long(&self, record: &csv::StringRecord, read: &[&str]) -> Option<String> {
        read.iter()
            .find_map(|&column| longer_than_a_field(column, self.get(record, column)))
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

    /// The value of `column` in `record`, which must not be empty.
    fn required(&self, record: &csv::StringRecord, column: &str) -> Result<String, String> {
        match self.get(record, column) {
            "" => Err(format!("{column} is empty")),
            v => Ok(v.to_string()),
        }
    }
}

/// Notes that `keys` are used on `line`, unless an earlier line used one of them: then that
/// is why the row is refused, and none is noted (a row refused uses nothing).
fn first_use(seen: &mut HashMap<String, u64>, keys: Vec<String>, line: u64) -> Result<(), String> {
    if let Some((key, first)) = keys.iter().find_map(|k| Some((k, seen.get(k)?))) {
        return Err(format!("{key} is already used on line {first}"));
    }
    seen.extend(keys.into_iter().map(|key| (key, line)));
    Ok(())
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
    let mut seen: HashMap<String, u64> = HashMap::new();
    table.each_row(&CATALOG_COLUMNS, |line, record| {
        catalog_row(&table, held, &mut seen, line, record)
    })
}

/// One row of a catalog file over the products `held`, its codes noted in `seen` (each
/// code's first line).
fn catalog_row(
    table: &Table,
    held: &HashMap<String, CatalogRow>,
    seen: &mut HashMap<String, u64>,
    line: u64,
    record: &csv::StringRecord,
) -> Result<CatalogRow, String> {
    let get = |c: &str| table.get(record, c);
    let sku = table.required(record, "sku")?;
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
            Ok(None) => return Err(format!("barcode {code:?} is not an EAN-13, EAN-8 or UPC-A")),
            Err(e) => return Err(e.to_string()),
        },
    };
    let price_text = get("price_yuan");
    let price = Fen::parse_yuan(price_text).map_err(|e| format!("price_yuan: {e}"))?;
    let weighed = match was {
        Some(row) if kept("weighed") => row.product.weighed,
        _ => parse_bool(get("weighed"))
            .ok_or_else(|| format!("weighed {:?} is not true or false", get("weighed")))?,
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
        name_zh: table.required(record, "name_zh")?,
        name_en: text_of("name_en", |p| &p.name_en),
        category: text_of("category", |p| &p.category),
        unit: table.required(record, "unit")?,
        price,
        weighed,
        county_code: text_of("origin_county_code", |p| &p.county_code),
        county_name: text_of("origin_county_name", |p| &p.county_name),
        supplier: text_of("supplier", |p| &p.supplier),
        cert_no,
        stall: text_of("stall", |p| &p.stall),
    };
    product.validate()?;
    if let Some(row) = was.filter(|_| kept("stock")) {
        if row.product.weighed != weighed {
            return Err(format!(
                "weighed changes for {}, so its stock on hand would change unit: give \
                 the stock column too",
                row.product.sku
            ));
        }
    }
    let stock = match (get("stock"), was) {
        (_, Some(row)) if kept("stock") => row.stock,
        ("", _) => 0,
        (s, _) => product
            .base_qty_from_units(s)
            .map_err(|why| format!("stock: {why}"))?,
    };
    let mut keys = vec![format!("sku {}", product.sku)];
    keys.extend(product.barcode.iter().map(|b| format!("barcode {b}")));
    // By value: `0012` on one line and `12` on another are one PLU.
    keys.extend(product.plu.iter().map(|p| format!("plu {}", plu_value(p))));
    first_use(seen, keys, line)?;
    Ok(CatalogRow { product, stock })
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

/// What to say of each column in the header of the catalog table `text` that the catalog
/// does not read: its values are not imported, unsaid before (a header of `条码` gave every
/// product no barcode).
pub fn unread_columns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let Ok(header) = reader.headers() else {
        return Vec::new();
    };
    header
        .iter()
        .map(str::trim)
        .filter(|c| !c.is_empty() && !CATALOG_COLUMNS.contains(&c.to_ascii_lowercase().as_str()))
        .map(|c| {
            format!(
                "column {c} is not one the catalog reads, so its values are not imported \
                 (the columns are {})",
                CATALOG_COLUMNS.join(", ")
            )
        })
        .collect()
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
            holder.insert(("PLU", plu_value(code)), &p.sku);
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
            let value_of = |code| if kind == "PLU" { plu_value(code) } else { code };
            let Some(&from) = holder.get(&(kind, value_of(code))) else {
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
                theirs
                    .as_deref()
                    .is_some_and(|c| value_of(c) != value_of(code))
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
mod tests;
