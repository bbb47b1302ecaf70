//! What a till takes in a catalog: a catalog document comes from whoever headquarters is,
//! and a small compressed one can unpack to a great many entries or very long texts, which
//! the till would keep in its tables, lay out on its screen and print. One with more than
//! [`MOST_ENTRIES`] entries of a kind, or an id, a field's name or a text longer than
//! [`LONGEST_FIELD`] characters, is refused whole (the till keeps the catalog it has).
//! Headquarters' own imports refuse such a field before it is in a catalog.

use automerge::{ObjType, ReadDoc, ScalarValue, Value};
use fairpos_domain::catalog::{LONGEST_FIELD, MOST_ENTRIES};

use super::{CatalogContents, CatalogDoc, SECTIONS};
use crate::answer::told;
use crate::{Error, Result};

impl CatalogDoc {
    /// [`CatalogDoc::contents`], refused when it holds more than a till takes.
    pub fn contents_for_a_till(&self) -> Result<CatalogContents> {
        self.within(MOST_ENTRIES, LONGEST_FIELD)?;
        self.contents()
    }

    /// Refused when a section holds more than `most` entries, or an entry an id, a field's
    /// name or a text of more than `longest` characters.
    fn within(&self, most: usize, longest: usize) -> Result<()> {
        let too_long = |what: &str, text: &str| {
            let n = text.chars().count();
            (n > longest)
                .then(|| format!("{what} is {n} characters; a till takes at most {longest}"))
        };
        for section in SECTIONS {
            let obj = self.section(section)?;
            let entries = self.doc.length(&obj);
            if entries > most {
                return Err(Error::Codec(format!(
                    "a catalog of {entries} {section}; a till takes at most {most}"
                )));
            }
            for id in self.doc.keys(&obj) {
                let refused = |why: String| {
                    Error::Codec(format!("a catalog {section} entry `{}`: {why}", told(&id)))
                };
                if let Some(why) = too_long("its id", &id) {
                    return Err(refused(why));
                }
                let Ok(Some((Value::Object(ObjType::Map), entry))) =
                    self.doc.get(&obj, id.as_str())
                else {
                    continue;
                };
                for field in self.doc.keys(&entry) {
                    if let Some(why) = too_long("a field's name", &field) {
                        return Err(refused(why));
                    }
                    if let Ok(Some((Value::Scalar(value), _))) =
                        self.doc.get(&entry, field.as_str())
                    {
                        if let ScalarValue::Str(text) = value.as_ref() {
                            if let Some(why) = too_long(&format!("`{}`", told(&field)), text) {
                                return Err(refused(why));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use automerge::ActorId;

    use super::*;
    use crate::catalog::{CatalogProduct, CatalogStall};

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

        // More entries of a kind than a till takes (a bound of 2 here).
        let three = catalog(&[product("A", "甲"), product("B", "乙"), product("C", "丙")]);
        let err = three.within(2, LONGEST_FIELD).unwrap_err().to_string();
        assert!(
            err.contains("a catalog of 3 products; a till takes at most 2"),
            "{err}"
        );
        three.within(3, LONGEST_FIELD).unwrap();
        let mut stalls = catalog(&[]);
        let stall = CatalogStall {
            id: "S1".into(),
            name: "摊".into(),
            team: String::new(),
        };
        stalls.put(&[stall], 0).unwrap();
        assert!(stalls.within(0, LONGEST_FIELD).is_err());
    }
}
