//! What a till takes in a catalog: a catalog document comes from whoever headquarters is,
//! and a small compressed one can unpack to a great many entries or very long texts, which
//! the till would keep in its tables, lay out on its screen and print. One with more than
//! [`MOST_ENTRIES`] entries of a kind, an entry of more than [`MOST_FIELDS`] fields, or an
//! id, a field's name or a text longer than [`LONGEST_FIELD`] characters, is refused whole
//! (the till keeps the catalog it has). Headquarters' imports and a till's own product adds
//! refuse such a text (`Product::validate`), and headquarters folds in no product a till
//! added that a till would refuse ([`beyond_a_till`]).

use automerge::{ObjType, ReadDoc, ScalarValue, Value};
use fairpos_domain::catalog::{LONGEST_FIELD, MOST_ENTRIES};

use super::{to_scalars, CatalogContents, CatalogDoc, CatalogProduct, Entry, SECTIONS};
use crate::answer::told;
use crate::{Error, Result};

/// The most fields an entry of a catalog a till takes holds (a product has fifteen).
pub const MOST_FIELDS: usize = 64;

/// Why `text` (`what`) is longer than [`LONGEST_FIELD`] characters, if it is.
fn too_long(what: &str, text: &str) -> Option<String> {
    let n = text.chars().count();
    (n > LONGEST_FIELD)
        .then(|| format!("{what} is {n} characters; a till takes at most {LONGEST_FIELD}"))
}

/// Why an entry (`id`, its fields' names and texts) is more than a till takes, if it is.
fn entry_beyond(id: &str, fields: &[(&str, Option<&str>)]) -> Option<String> {
    if let Some(why) = too_long("its id", id) {
        return Some(why);
    }
    if fields.len() > MOST_FIELDS {
        return Some(format!(
            "{} fields; a till takes at most {MOST_FIELDS}",
            fields.len()
        ));
    }
    for &(field, text) in fields {
        if let Some(why) = too_long("a field's name", field) {
            return Some(why);
        }
        let why = text.and_then(|text| too_long(&format!("`{}`", told(field)), text));
        if why.is_some() {
            return why;
        }
    }
    None
}

/// Why `entry` is more than a till takes in a catalog, if it is (or cannot be written).
pub fn beyond_a_till<E: Entry>(entry: &E) -> Option<String> {
    let (id, fields) = match to_scalars(entry) {
        Ok(scalars) => scalars,
        Err(e) => return Some(e.to_string()),
    };
    let texts: Vec<(&str, Option<&str>)> = fields
        .iter()
        .map(|(field, value)| (field.as_str(), text_of(value)))
        .collect();
    entry_beyond(&id, &texts)
}

/// The text a scalar holds, if it is one.
fn text_of(value: &ScalarValue) -> Option<&str> {
    match value {
        ScalarValue::Str(text) => Some(text.as_str()),
        _ => None,
    }
}

/// Of the products tills added offline, those headquarters folds into its catalog, whose
/// products are `held`: the new ones (by SKU; of two in `added` with one SKU, the first) a
/// till would take, while the catalog stays within [`MOST_ENTRIES`]; and why each other new
/// one is not (in words, for the log).
pub fn foldable(
    added: &[CatalogProduct],
    held: &[CatalogProduct],
) -> (Vec<CatalogProduct>, Vec<String>) {
    foldable_within(added, held, MOST_ENTRIES)
}

fn foldable_within(
    added: &[CatalogProduct],
    held: &[CatalogProduct],
    most: usize,
) -> (Vec<CatalogProduct>, Vec<String>) {
    let (mut folded, mut not) = (Vec::new(), Vec::new());
    for product in added {
        let sku_taken = |products: &[CatalogProduct]| products.iter().any(|q| q.sku == product.sku);
        if sku_taken(held) || sku_taken(&folded) {
            continue;
        }
        let why = match beyond_a_till(product) {
            Some(why) => why,
            None if held.len() + folded.len() >= most => {
                format!("the catalog holds {most} products, as many as a till takes")
            }
            None => {
                folded.push(product.clone());
                continue;
            }
        };
        not.push(format!(
            "product {} a till added is not folded into the catalog: {why}",
            told(&product.sku)
        ));
    }
    (folded, not)
}

impl CatalogDoc {
    /// [`CatalogDoc::contents`], refused when it holds more than a till takes.
    pub fn contents_for_a_till(&self) -> Result<CatalogContents> {
        if let Some(why) = self.why_a_till_refuses()? {
            return Err(Error::Codec(why));
        }
        self.contents()
    }

    /// Why a till would refuse this catalog ([`CatalogDoc::contents_for_a_till`]), or `None`:
    /// for headquarters, which reads its own catalog unbounded, to make none that its tills
    /// refuse.
    pub fn why_a_till_refuses(&self) -> Result<Option<String>> {
        self.why_beyond(MOST_ENTRIES)
    }

    /// How many entries each section holds, in [`SECTIONS`]' order: what an edit may not take
    /// past [`MOST_ENTRIES`] (read without walking the entries).
    pub fn entries_by_section(&self) -> Result<Vec<(&'static str, usize)>> {
        SECTIONS
            .iter()
            .map(|&section| Ok((section, self.doc.length(&self.section(section)?))))
            .collect()
    }

    /// Why it is more than a till takes: a section holds more than `most` entries, or an
    /// entry more than [`MOST_FIELDS`] fields, or an id, a field's name or a text of more
    /// than [`LONGEST_FIELD`] characters. An error where it is not a catalog.
    fn why_beyond(&self, most: usize) -> Result<Option<String>> {
        for section in SECTIONS {
            let obj = self.section(section)?;
            let entries = self.doc.length(&obj);
            if entries > most {
                return Ok(Some(format!(
                    "a catalog of {entries} {section}; a till takes at most {most}"
                )));
            }
            for id in self.doc.keys(&obj) {
                let Ok(Some((Value::Object(ObjType::Map), entry))) =
                    self.doc.get(&obj, id.as_str())
                else {
                    continue;
                };
                let values: Vec<(String, Option<ScalarValue>)> = self
                    .doc
                    .keys(&entry)
                    .map(|field| match self.doc.get(&entry, field.as_str()) {
                        Ok(Some((Value::Scalar(value), _))) => (field, Some(value.into_owned())),
                        _ => (field, None),
                    })
                    .collect();
                let fields: Vec<(&str, Option<&str>)> = values
                    .iter()
                    .map(|(field, value)| (field.as_str(), value.as_ref().and_then(text_of)))
                    .collect();
                if let Some(why) = entry_beyond(&id, &fields) {
                    return Ok(Some(format!(
                        "a catalog {section} entry `{}`: {why}",
                        told(&id)
                    )));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::ActorId;

    use super::*;
    use crate::catalog::CatalogStall;

    fn catalog(products: &[CatalogProduct]) -> CatalogDoc {
        let mut doc = CatalogDoc::create("catalog/fair", "fair", ActorId::random()).unwrap();
        doc.put(products, 0).unwrap();
        doc
    }

    fn product(sku: &str, name_zh: &str) -> CatalogProduct {
        CatalogProduct {
            sku: sku.into(),
            name_zh: name_zh.into(),
            unit: "个".into(),
            price_fen: 100,
            ..CatalogProduct::default()
        }
    }

    #[test]
    fn a_catalog_larger_than_a_till_takes_is_refused_whole() {
        let at_most = "长".repeat(LONGEST_FIELD);
        let fits = catalog(&[product("A", &at_most), product("B", "乙")]);
        assert_eq!(fits.contents_for_a_till().unwrap().products.len(), 2);

        let longer = format!("{at_most}长");
        let too_long = catalog(&[product("A", "甲"), product("B", &longer)]);
        let err = too_long.contents_for_a_till().unwrap_err().to_string();
        assert!(
            err.contains(
                "products entry `B`: `name_zh` is 301 characters; a till takes at most 300"
            ),
            "{err}"
        );
        // Headquarters reads it as it is.
        assert_eq!(too_long.contents().unwrap().products.len(), 2);

        let long_id = "X".repeat(LONGEST_FIELD + 1);
        let err = catalog(&[product(&long_id, "甲")])
            .contents_for_a_till()
            .unwrap_err();
        assert!(
            err.to_string().contains("its id is 301 characters"),
            "{err}"
        );

        // An entry of more fields than a till takes (unknown ones, of a later build, say).
        let mut many = catalog(&[product("A", "甲")]);
        {
            let mut tx = many.automerge_mut().transaction();
            let (_, products) = tx.get(automerge::ROOT, "products").unwrap().unwrap();
            let (_, entry) = tx.get(&products, "A").unwrap().unwrap();
            for n in 0..MOST_FIELDS {
                tx.put(&entry, format!("extra{n}"), 1).unwrap();
            }
            tx.commit();
        }
        let err = many.contents_for_a_till().unwrap_err().to_string();
        assert!(err.contains("fields; a till takes at most 64"), "{err}");

        // More entries of a kind than a till takes (a bound of 2 here).
        let three = catalog(&[product("A", "甲"), product("B", "乙"), product("C", "丙")]);
        let why = three.why_beyond(2).unwrap().unwrap();
        assert_eq!(why, "a catalog of 3 products; a till takes at most 2");
        assert_eq!(three.why_beyond(3).unwrap(), None);
        assert_eq!(three.why_a_till_refuses().unwrap(), None);
        let counted = three.entries_by_section().unwrap();
        assert!(counted.contains(&("products", 3)), "{counted:?}");
        let mut stalls = catalog(&[]);
        let stall = CatalogStall {
            id: "S1".into(),
            name: "摊".into(),
            team: String::new(),
        };
        stalls.put(&[stall], 0).unwrap();
        assert!(stalls.why_beyond(0).unwrap().is_some());
    }

    #[test]
    fn an_entry_a_till_would_refuse_is_told_before_it_is_folded_in() {
        assert_eq!(beyond_a_till(&product("A", "甲")), None);
        let why = beyond_a_till(&product("A", &"长".repeat(LONGEST_FIELD + 1))).unwrap();
        assert_eq!(why, "`name_zh` is 301 characters; a till takes at most 300");
        let why = beyond_a_till(&product(&"X".repeat(LONGEST_FIELD + 1), "甲")).unwrap();
        assert!(why.starts_with("its id is 301 characters"), "{why}");
    }

    #[test]
    fn headquarters_folds_in_the_new_products_a_till_would_take_while_there_is_room() {
        let held = [product("A", "甲")];
        let long = "长".repeat(LONGEST_FIELD + 1);
        let added = [
            product("A", "甲又"),
            product("B", "乙"),
            product("B", "乙又"),
            product("L", &long),
            product("C", "丙"),
        ];
        let (folded, not) = foldable_within(&added, &held, 2);
        let names: Vec<(&str, &str)> = folded
            .iter()
            .map(|p| (p.sku.as_str(), p.name_zh.as_str()))
            .collect();
        assert_eq!(
            names,
            [("B", "乙")],
            "the first of a SKU, as a later pass would"
        );
        assert_eq!(not.len(), 2, "{not:?}");
        assert!(not[0].contains("product L a till added") && not[0].contains("301 characters"));
        assert!(not[1].contains("product C") && not[1].contains("holds 2 products"));
        assert_eq!(foldable(&added, &held).0.len(), 2);
    }
}
