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
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

mod bounds;

pub use bounds::{beyond_a_till, foldable, MOST_FIELDS};

const DOC_TYPE: &str = "fairpos-catalog";

/// A product as the catalog document holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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
#[serde(default)]
pub struct CatalogStall {
    pub id: String,
    pub name: String,
    pub team: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CatalogSeller {
    pub id: String,
    pub name: String,
    pub team: String,
    pub stall: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CatalogUnit {
    pub tax_id: String,
    pub name: String,
    pub kind: String,
}

/// An entry of one of the document's sections: a map of scalar fields under its id. Written
/// and read through its serde form, so its fields are named once, in its struct.
pub trait Entry: Serialize + DeserializeOwned {
    /// The section's name in the document.
    const SECTION: &'static str;
    /// The field that is the entry's key in the section rather than a field of its map.
    const ID: &'static str;
}

impl Entry for CatalogProduct {
    const SECTION: &'static str = "products";
    const ID: &'static str = "sku";
}

impl Entry for CatalogStall {
    const SECTION: &'static str = "stalls";
    const ID: &'static str = "id";
}

impl Entry for CatalogSeller {
    const SECTION: &'static str = "sellers";
    const ID: &'static str = "id";
}

impl Entry for CatalogUnit {
    const SECTION: &'static str = "units";
    const ID: &'static str = "tax_id";
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

/// The document's four sections, each a map of entries by id.
pub const SECTIONS: [&str; 4] = [
    CatalogProduct::SECTION,
    CatalogStall::SECTION,
    CatalogSeller::SECTION,
    CatalogUnit::SECTION,
];

/// An entry's fields as the document holds them: its serde form, but for its id.
fn to_scalars<E: Entry>(entry: &E) -> Result<(String, Vec<(String, ScalarValue)>)> {
    let bad = |why: String| Error::Codec(format!("a catalog {}: {why}", E::SECTION));
    let serde_json::Value::Object(mut map) =
        serde_json::to_value(entry).map_err(|e| bad(e.to_string()))?
    else {
        return Err(bad("not a map".into()));
    };
    let id = match map.remove(E::ID) {
        Some(serde_json::Value::String(id)) => id,
        _ => return Err(bad(format!("no `{}`", E::ID))),
    };
    let mut fields = Vec::with_capacity(map.len());
    for (field, value) in map {
        let scalar = match value {
            serde_json::Value::Null => ScalarValue::Null,
            serde_json::Value::Bool(b) => ScalarValue::Boolean(b),
            serde_json::Value::String(s) => ScalarValue::Str(s.into()),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => ScalarValue::Int(i),
                None => return Err(bad(format!("`{field}` is not a whole number"))),
            },
            _ => return Err(bad(format!("`{field}` is not a scalar"))),
        };
        fields.push((field, scalar));
    }
    Ok((id, fields))
}

/// A field's value as serde reads it. A value of a kind this catalog never writes is read as
/// what it says where that is plain (a whole float, a counter, a timestamp as numbers) and
/// otherwise as something no field of the entry's type takes, so that a field the entry
/// knows is refused rather than read as its default (a price of 0), while a field it does
/// not know (a later build's) is passed over as before.
fn field_json(value: &ScalarValue) -> serde_json::Value {
    use serde_json::Value as Json;
    // Beyond 2^53 a float no longer holds every whole number, and the cast would round.
    const WHOLE_FLOATS: f64 = 9_007_199_254_740_992.0;
    match value {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => (*i).into(),
        ScalarValue::Uint(u) => (*u).into(),
        ScalarValue::Counter(c) => i64::from(c).into(),
        ScalarValue::F64(f) if f.fract() == 0.0 && f.abs() <= WHOLE_FLOATS => (*f as i64).into(),
        // Not a whole number, or none at all (NaN, an infinity, which JSON has no number
        // for): no field takes it, an optional one included.
        ScalarValue::F64(f) => {
            serde_json::Number::from_f64(*f).map_or_else(not_a_scalar, Json::Number)
        }
        ScalarValue::Boolean(b) => (*b).into(),
        ScalarValue::Null => Json::Null,
        ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } => not_a_scalar(),
    }
}

/// What a field holding a map, a list, bytes or a value of a later automerge is read as: a
/// value no field of an entry takes.
fn not_a_scalar() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// An entry read back from its id and the fields (`map`) the document holds.
fn from_fields<E: Entry>(
    id: String,
    mut map: serde_json::Map<String, serde_json::Value>,
) -> Result<E> {
    map.insert(E::ID.to_string(), serde_json::Value::String(id.clone()));
    // The id and the value serde quotes come from whoever wrote the document: both are told
    // cut, with control characters written out.
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
        Error::Codec(format!(
            "a catalog {} entry `{}`: {}",
            E::SECTION,
            crate::answer::told(&id),
            crate::answer::told(&e.to_string())
        ))
    })
}

/// The actor that writes the genesis of `fair`'s catalog: the first 16 bytes of the SHA-256
/// of the fair's id, the same at every headquarters of the fair.
pub fn genesis_actor(fair: &str) -> ActorId {
    use sha2::{Digest, Sha256};
    let hash = Sha256::new()
        .chain_update(b"fairpos catalog genesis\n")
        .chain_update(fair.as_bytes())
        .finalize();
    ActorId::from(&hash[..16])
}

impl CatalogDoc {
    /// The genesis: an empty catalog for `fair`, made by headquarters, which edits it as
    /// `actor` from then on.
    ///
    /// The genesis change itself is the same wherever it is made: written by an actor named
    /// after the fair ([`genesis_actor`]), at time 0. Two data directories made the
    /// headquarters of one fair (several `hq serve` hosts naming one PostgreSQL database)
    /// thus hold one genesis, and their edits land in the same section maps. Two different
    /// geneses would each put their own map at every section, and merged, one map would hide
    /// the other's products from every till.
    pub fn create(key: &str, fair: &str, actor: ActorId) -> Result<CatalogDoc> {
        CatalogDoc::create_by(key, fair, genesis_actor(fair), actor)
    }

    /// [`CatalogDoc::create`] with the genesis written by `genesis`: what builds before the
    /// fair's genesis actor made (each headquarters its own), kept for what must meet such
    /// a catalog.
    pub fn create_by(
        key: &str,
        fair: &str,
        genesis: ActorId,
        actor: ActorId,
    ) -> Result<CatalogDoc> {
        let mut doc = Automerge::new().with_actor(genesis);
        let am = |e| Error::automerge(key, e);
        let mut tx = doc.transaction();
        tx.put(ROOT, "type", DOC_TYPE).map_err(am)?;
        tx.put(ROOT, "version", 1_i64).map_err(am)?;
        tx.put(ROOT, "fair", fair).map_err(am)?;
        for section in SECTIONS {
            tx.put_object(ROOT, section, ObjType::Map).map_err(am)?;
        }
        tx.commit_with(CommitOptions::default().with_time(0));
        doc.set_actor(actor);
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

    /// Whether `doc`, stored as the document `id`, is the catalog of the fair it names, under
    /// the id that catalog's key makes: stored beside the ledgers, not one of them.
    pub fn is_stored_as(doc: &Automerge, id: &crate::samod::DocumentId) -> bool {
        let Ok(Some((fair, _))) = doc.get(ROOT, "fair") else {
            return false;
        };
        let Some(fair) = fair.as_str() else {
            return false;
        };
        let key = crate::ids::catalog_key(fair);
        crate::ids::document_id(&key) == *id && CatalogDoc::open(&key, fair, doc.clone()).is_ok()
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

    /// Creates or updates entries of their section in one change, touching only the fields
    /// that differ; returns how many fields changed.
    pub fn put<E: Entry>(&mut self, entries: &[E], at_ms: i64) -> Result<usize> {
        let obj = self.section(E::SECTION)?;
        let entries = entries.iter().map(to_scalars).collect::<Result<Vec<_>>>()?;
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
                let current =
                    tx.get(&entry, field.as_str())
                        .map_err(am)?
                        .and_then(|(v, _)| match v {
                            Value::Scalar(s) => Some(s.into_owned()),
                            _ => None,
                        });
                if current.as_ref() != Some(&value) {
                    tx.put(&entry, field.as_str(), value).map_err(am)?;
                    changed += 1;
                }
            }
        }
        tx.commit_with(CommitOptions::default().with_time(at_ms));
        Ok(changed)
    }

    /// Every entry of a section.
    pub fn entries<E: Entry>(&self) -> Result<Vec<E>> {
        let obj = self.section(E::SECTION)?;
        let mut out = Vec::new();
        for id in self.doc.keys(&obj) {
            let Ok(Some((Value::Object(ObjType::Map), entry))) = self.doc.get(&obj, id.as_str())
            else {
                continue;
            };
            let mut fields = serde_json::Map::new();
            for field in self.doc.keys(&entry) {
                let value = match self.doc.get(&entry, field.as_str()) {
                    Ok(Some((Value::Scalar(s), _))) => field_json(&s),
                    Ok(Some((Value::Object(_), _))) => not_a_scalar(),
                    _ => continue,
                };
                fields.insert(field, value);
            }
            out.push(from_fields(id, fields)?);
        }
        Ok(out)
    }

    pub fn contents(&self) -> Result<CatalogContents> {
        Ok(CatalogContents {
            products: self.entries()?,
            stalls: self.entries()?,
            sellers: self.entries()?,
            units: self.entries()?,
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

    /// The catalog after `set` has changed product A's fields, in a change of its own.
    fn product_a_with(
        set: impl Fn(&mut automerge::transaction::Transaction<'_>, &ObjId),
    ) -> Result<CatalogContents> {
        let mut doc = CatalogDoc::create("catalog/f", "f", ActorId::random()).unwrap();
        doc.put(&[product("A", 100)], 0).unwrap();
        let products = doc.section(CatalogProduct::SECTION).unwrap();
        let mut tx = doc.automerge_mut().transaction();
        let (_, a) = tx.get(&products, "A").unwrap().unwrap();
        set(&mut tx, &a);
        tx.commit();
        doc.contents()
    }

    #[test]
    fn a_field_of_a_kind_the_catalog_never_writes_is_read_as_it_says_or_refused() {
        let price = |set: ScalarValue| {
            product_a_with(|tx, a| tx.put(a, "price_fen", set.clone()).unwrap())
                .map(|c| c.products[0].price_fen)
        };
        // Plain: a whole float, a counter.
        assert_eq!(price(ScalarValue::F64(120.0)).unwrap(), 120);
        assert_eq!(price(ScalarValue::counter(130)).unwrap(), 130);
        // Refused, naming the entry, where the price read as 0 before (a string was refused
        // before too).
        for odd in [
            ScalarValue::F64(1.5),
            ScalarValue::F64(f64::NAN),
            ScalarValue::F64(f64::INFINITY),
            ScalarValue::F64(1e300),
            ScalarValue::Bytes(vec![1, 2]),
            ScalarValue::Str("12800".into()),
        ] {
            let err = price(odd.clone()).unwrap_err().to_string();
            assert!(
                err.starts_with("a catalog products entry `A`: "),
                "{odd:?}: {err}"
            );
        }
        let map = product_a_with(|tx, a| {
            tx.put_object(a, "name_zh", ObjType::Map).unwrap();
        });
        assert!(map.is_err());
        // A float that is no number in an optional field is not read as none.
        let no_number = product_a_with(|tx, a| {
            tx.put(a, "barcode", ScalarValue::F64(f64::NAN)).unwrap();
        });
        assert!(no_number.is_err());
        // A field the entry does not know (a later build's) is passed over, whatever it holds.
        let later = product_a_with(|tx, a| {
            tx.put(a, "origin_photo", ScalarValue::Bytes(vec![0xff]))
                .unwrap();
            tx.put_object(a, "labels", ObjType::List).unwrap();
        })
        .unwrap();
        assert_eq!(later.products, vec![product("A", 100)]);
    }

    #[test]
    fn replicas_from_one_genesis_merge_edits_of_different_fields() {
        let mut hq = CatalogDoc::create("catalog/f", "f", ActorId::random()).unwrap();
        hq.put(&[product("A", 100)], 0).unwrap();
        let mut other = CatalogDoc::load("catalog/f", "f", &hq.save()).unwrap();
        other.set_actor(ActorId::random());
        // HQ changes the price; the other replica adds a product.
        hq.put(&[product("A", 120)], 1).unwrap();
        other.put(&[product("B", 50)], 1).unwrap();
        hq.automerge_mut().merge(other.automerge_mut()).unwrap();
        let c = hq.contents().unwrap();
        let prices: Vec<(String, i64)> = c
            .products
            .iter()
            .map(|p| (p.sku.clone(), p.price_fen))
            .collect();
        assert_eq!(prices, vec![("A".into(), 120), ("B".into(), 50)]);
        // Writing the same values again changes nothing.
        assert_eq!(hq.put(&[product("A", 120)], 2).unwrap(), 0);
    }

    #[test]
    fn catalogs_of_one_fair_made_apart_share_their_genesis_and_merge_every_product() {
        let mut first = CatalogDoc::create("catalog/f", "f", ActorId::random()).unwrap();
        let mut second = CatalogDoc::create("catalog/f", "f", ActorId::random()).unwrap();
        assert_eq!(
            first.automerge().get_heads(),
            second.automerge().get_heads(),
            "one genesis"
        );
        first.put(&[product("A", 100)], 1).unwrap();
        second.put(&[product("B", 50)], 1).unwrap();
        first.automerge_mut().merge(second.automerge_mut()).unwrap();
        let skus: Vec<String> = first
            .contents()
            .unwrap()
            .products
            .into_iter()
            .map(|p| p.sku)
            .collect();
        assert_eq!(skus, ["A", "B"]);
        // Another fair's genesis is another change.
        let other = CatalogDoc::create("catalog/g", "g", ActorId::random()).unwrap();
        assert_ne!(
            other.automerge().get_heads(),
            second.automerge().get_heads()
        );
    }

    /// Data directories made by different builds share a database only while they make the
    /// same genesis: a change to the genesis (its fields, the sections, the actor, the
    /// encoding) must change this hash knowingly, and say so where several directories
    /// share a database.
    #[test]
    fn the_genesis_of_a_fair_is_pinned() {
        let doc = CatalogDoc::create("catalog/f", "f", ActorId::random()).unwrap();
        let heads: Vec<String> = doc
            .automerge()
            .get_heads()
            .iter()
            .map(|h| h.to_string())
            .collect();
        assert_eq!(
            heads,
            ["84fc080b42ec81f08f8dcf35efe97eb16511186b8b594cf9c738735ce2121e58"]
        );
    }

    #[test]
    fn a_catalog_of_another_fair_is_refused() {
        let hq = CatalogDoc::create("catalog/f", "f", ActorId::random()).unwrap();
        assert!(CatalogDoc::load("catalog/g", "g", &hq.save()).is_err());
    }
}
