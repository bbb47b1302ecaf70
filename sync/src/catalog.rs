//! The fair's catalog as a shared Automerge document: products, stalls, sellers and purchasing
//! units. Headquarters writes it, starting from one genesis change that every replica shares
//! (tills receive the whole document when they enrol), so that no two replicas ever create
//! rival root maps. Each entry is a map of scalar fields, so concurrent edits of different
//! fields of one product merge.
//!
//! ```text
//! { "type": "fairpos-catalog", "version": 1, "fair": "<fair id>",
//!   "products": { "<sku>": { "name_zh": "...", "price_fen": 12800, ... } },
//!   "stalls": { "<id>": {...} }, "sellers": { "<id>": {...} }, "units": { "<tax id>": {...} } }
//! ```

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const DOC_TYPE: &str = "fairpos-catalog";

/// A product as the catalog document holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogProduct {
    pub sku: String,
    pub barcode: Option<String>,
    pub plu: Option<String>,
    pub name_zh: String,
    pub name_en: String,
    pub category: String,
    pub unit: String,
    pub price_fen: i64,
    pub weighed: bool,
    pub county_code: String,
    pub county_name: String,
    pub supplier: String,
    pub cert_no: Option<String>,
    pub stall: String,
    /// Opening stock, pieces or grams.
    pub stock: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogStall {
    pub id: String,
    pub name: String,
    pub team: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogSeller {
    pub id: String,
    pub name: String,
    pub team: String,
    pub stall: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogUnit {
    pub tax_id: String,
    pub name: String,
    pub kind: String,
}

/// Everything in a catalog document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogContents {
    pub products: Vec<CatalogProduct>,
    pub stalls: Vec<CatalogStall>,
    pub sellers: Vec<CatalogSeller>,
    pub units: Vec<CatalogUnit>,
}

pub struct CatalogDoc {
    key: String,
    doc: Automerge,
}

const SECTIONS: [&str; 4] = ["products", "stalls", "sellers", "units"];

/// An entry of a section as `(field, value)` pairs, to write.
type Fields = Vec<(&'static str, ScalarValue)>;
/// An entry of a section as read: its id and `(field, value)` pairs.
type Entry = (String, Vec<(String, ScalarValue)>);

fn text(s: &str) -> ScalarValue {
    ScalarValue::Str(s.into())
}

fn optional(s: &Option<String>) -> ScalarValue {
    match s {
        Some(s) => text(s),
        None => ScalarValue::Null,
    }
}

fn product_fields(p: &CatalogProduct) -> Fields {
    vec![
        ("barcode", optional(&p.barcode)),
        ("plu", optional(&p.plu)),
        ("name_zh", text(&p.name_zh)),
        ("name_en", text(&p.name_en)),
        ("category", text(&p.category)),
        ("unit", text(&p.unit)),
        ("price_fen", ScalarValue::Int(p.price_fen)),
        ("weighed", ScalarValue::Boolean(p.weighed)),
        ("county_code", text(&p.county_code)),
        ("county_name", text(&p.county_name)),
        ("supplier", text(&p.supplier)),
        ("cert_no", optional(&p.cert_no)),
        ("stall", text(&p.stall)),
        ("stock", ScalarValue::Int(p.stock)),
    ]
}

impl CatalogDoc {
    /// The genesis: an empty catalog for `fair`, made once, by headquarters.
    pub fn create(key: &str, fair: &str, actor: ActorId, at_ms: i64) -> Result<CatalogDoc> {
        let mut doc = Automerge::new().with_actor(actor);
        let am = |e| Error::automerge(key, e);
        let mut tx = doc.transaction();
        tx.put(ROOT, "type", DOC_TYPE).map_err(am)?;
        tx.put(ROOT, "version", 1_i64).map_err(am)?;
        tx.put(ROOT, "fair", fair).map_err(am)?;
        for section in SECTIONS {
            tx.put_object(ROOT, section, ObjType::Map).map_err(am)?;
        }
        tx.commit_with(CommitOptions::default().with_time(at_ms));
        Ok(CatalogDoc {
            key: key.to_string(),
            doc,
        })
    }

    /// Wraps a loaded document after checking it is a catalog of `fair`.
    pub fn open(key: &str, fair: &str, doc: Automerge) -> Result<CatalogDoc> {
        let not = |why: &str| Error::NotALedger {
            key: key.to_string(),
            why: why.to_string(),
        };
        let get_text = |field: &str| -> Option<String> {
            match doc.get(ROOT, field) {
                Ok(Some((v, _))) => v.as_str().map(str::to_string),
                _ => None,
            }
        };
        if get_text("type").as_deref() != Some(DOC_TYPE) {
            return Err(not("not a fairpos catalog"));
        }
        if get_text("fair").as_deref() != Some(fair) {
            return Err(not("a catalog of another fair"));
        }
        Ok(CatalogDoc {
            key: key.to_string(),
            doc,
        })
    }

    pub fn load(key: &str, fair: &str, bytes: &[u8]) -> Result<CatalogDoc> {
        let doc = Automerge::load(bytes).map_err(|e| Error::automerge(key, e))?;
        CatalogDoc::open(key, fair, doc)
    }

    pub fn set_actor(&mut self, actor: ActorId) {
        self.doc.set_actor(actor);
    }

    pub fn automerge(&self) -> &Automerge {
        &self.doc
    }

    pub fn automerge_mut(&mut self) -> &mut Automerge {
        &mut self.doc
    }

    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    fn section(&self, name: &str) -> Result<ObjId> {
        match self.doc.get(ROOT, name) {
            Ok(Some((Value::Object(ObjType::Map), id))) => Ok(id),
            _ => Err(Error::NotALedger {
                key: self.key.clone(),
                why: format!("`{name}` is missing"),
            }),
        }
    }

    /// Writes entries into `section` in one change, touching only the fields that differ.
    fn upsert(
        &mut self,
        section: &str,
        entries: Vec<(String, Fields)>,
        at_ms: i64,
    ) -> Result<usize> {
        let obj = self.section(section)?;
        let key = self.key.clone();
        let am = |e| Error::automerge(&key, e);
        let mut changed = 0;
        let mut tx = self.doc.transaction();
        for (id, fields) in entries {
            let entry = match tx.get(&obj, id.as_str()).map_err(am)? {
                Some((Value::Object(ObjType::Map), e)) => e,
                _ => tx.put_object(&obj, id.as_str(), ObjType::Map).map_err(am)?,
            };
            for (field, value) in fields {
                let current = tx
                    .get(&entry, field)
                    .map_err(am)?
                    .and_then(|(v, _)| match v {
                        Value::Scalar(s) => Some(s.into_owned()),
                        _ => None,
                    });
                if current.as_ref() != Some(&value) {
                    tx.put(&entry, field, value).map_err(am)?;
                    changed += 1;
                }
            }
        }
        tx.commit_with(CommitOptions::default().with_time(at_ms));
        Ok(changed)
    }

    /// Creates or updates products; returns how many fields changed.
    pub fn put_products(&mut self, products: &[CatalogProduct], at_ms: i64) -> Result<usize> {
        let entries = products
            .iter()
            .map(|p| (p.sku.clone(), product_fields(p)))
            .collect();
        self.upsert("products", entries, at_ms)
    }

    pub fn put_stalls(&mut self, stalls: &[CatalogStall], at_ms: i64) -> Result<usize> {
        let entries = stalls
            .iter()
            .map(|s| {
                let f: Fields = vec![("name", text(&s.name)), ("team", text(&s.team))];
                (s.id.clone(), f)
            })
            .collect();
        self.upsert("stalls", entries, at_ms)
    }

    pub fn put_sellers(&mut self, sellers: &[CatalogSeller], at_ms: i64) -> Result<usize> {
        let entries = sellers
            .iter()
            .map(|s| {
                let f: Fields = vec![
                    ("name", text(&s.name)),
                    ("team", text(&s.team)),
                    ("stall", text(&s.stall)),
                ];
                (s.id.clone(), f)
            })
            .collect();
        self.upsert("sellers", entries, at_ms)
    }

    pub fn put_units(&mut self, units: &[CatalogUnit], at_ms: i64) -> Result<usize> {
        let entries = units
            .iter()
            .map(|u| {
                let f: Fields = vec![("name", text(&u.name)), ("kind", text(&u.kind))];
                (u.tax_id.clone(), f)
            })
            .collect();
        self.upsert("units", entries, at_ms)
    }

    /// Every entry of `section` as `(id, field -> value)`.
    fn read(&self, section: &str) -> Result<Vec<Entry>> {
        let obj = self.section(section)?;
        let mut out = Vec::new();
        for id in self.doc.keys(&obj) {
            let Ok(Some((Value::Object(ObjType::Map), entry))) = self.doc.get(&obj, id.as_str())
            else {
                continue;
            };
            let mut fields = Vec::new();
            for field in self.doc.keys(&entry) {
                if let Ok(Some((Value::Scalar(s), _))) = self.doc.get(&entry, field.as_str()) {
                    fields.push((field, s.into_owned()));
                }
            }
            out.push((id, fields));
        }
        Ok(out)
    }

    pub fn contents(&self) -> Result<CatalogContents> {
        let get = |fields: &[(String, ScalarValue)], name: &str| -> Option<ScalarValue> {
            fields
                .iter()
                .find(|(f, _)| f == name)
                .map(|(_, v)| v.clone())
        };
        let s = |fields: &[(String, ScalarValue)], name: &str| -> String {
            get(fields, name)
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        let o = |fields: &[(String, ScalarValue)], name: &str| -> Option<String> {
            get(fields, name).and_then(|v| v.as_str().map(str::to_string))
        };
        let i = |fields: &[(String, ScalarValue)], name: &str| -> i64 {
            match get(fields, name) {
                Some(ScalarValue::Int(n)) => n,
                Some(ScalarValue::Uint(n)) => n as i64,
                _ => 0,
            }
        };
        let products = self
            .read("products")?
            .into_iter()
            .map(|(sku, f)| CatalogProduct {
                sku,
                barcode: o(&f, "barcode"),
                plu: o(&f, "plu"),
                name_zh: s(&f, "name_zh"),
                name_en: s(&f, "name_en"),
                category: s(&f, "category"),
                unit: s(&f, "unit"),
                price_fen: i(&f, "price_fen"),
                weighed: matches!(get(&f, "weighed"), Some(ScalarValue::Boolean(true))),
                county_code: s(&f, "county_code"),
                county_name: s(&f, "county_name"),
                supplier: s(&f, "supplier"),
                cert_no: o(&f, "cert_no"),
                stall: s(&f, "stall"),
                stock: i(&f, "stock"),
            })
            .collect();
        let stalls = self
            .read("stalls")?
            .into_iter()
            .map(|(id, f)| CatalogStall {
                id,
                name: s(&f, "name"),
                team: s(&f, "team"),
            })
            .collect();
        let sellers = self
            .read("sellers")?
            .into_iter()
            .map(|(id, f)| CatalogSeller {
                id,
                name: s(&f, "name"),
                team: s(&f, "team"),
                stall: s(&f, "stall"),
            })
            .collect();
        let units = self
            .read("units")?
            .into_iter()
            .map(|(tax_id, f)| CatalogUnit {
                tax_id,
                name: s(&f, "name"),
                kind: s(&f, "kind"),
            })
            .collect();
        Ok(CatalogContents {
            products,
            stalls,
            sellers,
            units,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(sku: &str, price: i64) -> CatalogProduct {
        CatalogProduct {
            sku: sku.into(),
            name_zh: format!("商品{sku}"),
            unit: "盒".into(),
            price_fen: price,
            stock: 10,
            ..Default::default()
        }
    }

    #[test]
    fn replicas_from_one_genesis_merge_edits_of_different_fields() {
        let mut hq = CatalogDoc::create("catalog/f", "f", ActorId::random(), 0).unwrap();
        hq.put_products(&[product("A", 100)], 0).unwrap();
        let mut other = CatalogDoc::load("catalog/f", "f", &hq.save()).unwrap();
        other.set_actor(ActorId::random());
        // HQ changes the price; the other replica adds a product.
        hq.put_products(&[product("A", 120)], 1).unwrap();
        other.put_products(&[product("B", 50)], 1).unwrap();
        hq.automerge_mut().merge(other.automerge_mut()).unwrap();
        let c = hq.contents().unwrap();
        let prices: Vec<(String, i64)> = c
            .products
            .iter()
            .map(|p| (p.sku.clone(), p.price_fen))
            .collect();
        assert_eq!(prices, vec![("A".into(), 120), ("B".into(), 50)]);
        // Writing the same values again changes nothing.
        assert_eq!(hq.put_products(&[product("A", 120)], 2).unwrap(), 0);
    }

    #[test]
    fn a_catalog_of_another_fair_is_refused() {
        let hq = CatalogDoc::create("catalog/f", "f", ActorId::random(), 0).unwrap();
        assert!(CatalogDoc::load("catalog/g", "g", &hq.save()).is_err());
    }
}
