//! Finding products as a volunteer types: by SKU, by name (Chinese or English) or by the
//! pinyin initials of the Chinese name (保靖黄金茶 ← `bjhjc`). A character with several
//! readings is indexed by each of them, so a word is found by the reading people use
//! (重庆 ← `cq`, though 重's first dictionary reading is zhòng; 长沙 ← `cs`, 银行 ← `yh`).
//! Full-width letters and digits (an input method in 全角 mode, a name typed with one) are
//! read as their ASCII forms on both sides. Pure; the index is built once per catalog.

use pinyin::ToPinyinMulti;

use crate::catalog::{Catalog, Product};
use crate::text::half_width;

/// `text` as the index compares it: half-width and lower case.
fn folded(text: &str) -> String {
    half_width(text).to_lowercase()
}

/// Most readings of one name the index keeps (a name of many characters with several
/// readings each would otherwise multiply without end).
const MAX_READINGS: usize = 64;

/// Every way of reading `text` aloud, as pinyin initials: one string per combination of its
/// characters' readings, first readings first, at most [`MAX_READINGS`]
/// (`重庆火锅` → `zqhg`, `cqhg`).
pub fn initials_readings(text: &str) -> Vec<String> {
    let mut readings = vec![String::new()];
    for c in half_width(text).chars() {
        let letters: Vec<&str> = match c.to_pinyin_multi() {
            Some(multi) => {
                let mut letters: Vec<&str> = Vec::new();
                for p in multi {
                    let l = p.first_letter();
                    if !letters.contains(&l) {
                        letters.push(l);
                    }
                }
                letters
            }
            None if c.is_ascii_alphanumeric() => {
                let lower = c.to_ascii_lowercase().to_string();
                readings.iter_mut().for_each(|r| r.push_str(&lower));
                continue;
            }
            None => continue,
        };
        let room = (MAX_READINGS / readings.len()).max(1);
        let mut next = Vec::with_capacity(readings.len() * letters.len().min(room));
        for r in &readings {
            for l in letters.iter().take(room) {
                next.push(format!("{r}{l}"));
            }
        }
        readings = next;
    }
    readings
}

struct Entry {
    sku: String,
    name_zh: String,
    name_en: String,
    /// Found by any part of four digits or more (the digits printed under a barcode that
    /// will not scan).
    barcode: String,
    /// The name's initials in every reading (the first dictionary reading first).
    initials: Vec<String>,
    category: String,
}

/// The catalog's products, ready to be searched.
pub struct ProductIndex {
    entries: Vec<Entry>,
    categories: Vec<String>,
}

impl ProductIndex {
    pub fn new(catalog: &Catalog) -> ProductIndex {
        let mut categories: Vec<String> = Vec::new();
        let entries = catalog
            .products()
            .iter()
            .map(|p: &Product| {
                if !categories.contains(&p.category) {
                    categories.push(p.category.clone());
                }
                Entry {
                    sku: folded(&p.sku),
                    name_zh: folded(&p.name_zh),
                    name_en: folded(&p.name_en),
                    barcode: p.barcode.clone().unwrap_or_default(),
                    initials: initials_readings(&p.name_zh),
                    category: p.category.clone(),
                }
            })
            .collect();
        ProductIndex {
            entries,
            categories,
        }
    }

    /// Categories in catalog order.
    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    /// Positions (in the catalog's order) of the products of `category` (all when `None`)
    /// that `query` finds: SKU and initials by prefix, names and barcodes anywhere. A query
    /// of several words finds the products that each word finds (`bjhjc 250`). An empty
    /// query finds every product of the category. Products whose SKU or initials start
    /// with the first word come first.
    pub fn find(&self, query: &str, category: Option<&str>) -> Vec<usize> {
        let query = folded(query);
        let words: Vec<&str> = query.split_whitespace().collect();
        let mut first = Vec::new();
        let mut then = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if category.is_some_and(|c| c != e.category) {
                continue;
            }
            let Some((head, rest)) = words.split_first() else {
                first.push(i);
                continue;
            };
            if !rest.iter().all(|w| e.has(w)) {
                continue;
            }
            if e.starts_with(head) {
                first.push(i);
            } else if e.has(head) {
                then.push(i);
            }
        }
        first.extend(then);
        first
    }
}

impl Entry {
    /// The SKU or one reading of the name's initials begins with `word`.
    fn starts_with(&self, word: &str) -> bool {
        self.sku.starts_with(word) || self.initials.iter().any(|r| r.starts_with(word))
    }

    /// `word` is found anywhere in the product.
    fn has(&self, word: &str) -> bool {
        self.name_zh.contains(word)
            || self.name_en.contains(word)
            || self.initials.iter().any(|r| r.contains(word))
            || self.sku.contains(word)
            || (word.len() >= 4 && self.barcode.contains(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> (Catalog, ProductIndex) {
        let catalog = Catalog::new(crate::demo::products().unwrap()).unwrap();
        let index = ProductIndex::new(&catalog);
        (catalog, index)
    }

    fn skus(catalog: &Catalog, found: &[usize]) -> Vec<String> {
        found
            .iter()
            .map(|&i| catalog.products()[i].sku.clone())
            .collect()
    }

    #[test]
    fn initials_of_chinese_names() {
        assert_eq!(initials_readings("保靖黄金茶 250g")[0], "bjhjc250g");
        assert_eq!(initials_readings("湘西腊肉")[0], "xxlr");
        // Full-width letters are read as ASCII; other signs are passed over.
        assert_eq!(initials_readings("Ａ·b"), ["ab"]);
        assert_eq!(initials_readings("ＸＯ酱")[0], "xoj");
    }

    #[test]
    fn characters_with_several_readings_are_found_by_each() {
        let readings = initials_readings("重庆火锅底料");
        assert_eq!(readings[0], "zqhgdl", "the first dictionary reading first");
        assert!(readings.contains(&"cqhgdl".to_string()), "{readings:?}");
        assert!(initials_readings("长沙臭豆腐").contains(&"cscdf".to_string()));
        assert!(initials_readings("银行").contains(&"yh".to_string()));
        assert!(initials_readings("音乐盒").contains(&"yyh".to_string()));
        // Many characters of many readings stay bounded.
        assert!(initials_readings(&"重长行乐".repeat(8)).len() <= MAX_READINGS);
    }

    #[test]
    fn a_word_is_found_by_the_reading_people_use() {
        let mut products = crate::demo::products().unwrap();
        for (sku, name) in [("CQ-HG-1", "重庆火锅底料"), ("CS-CDF-1", "长沙臭豆腐")] {
            let mut p = products[0].clone();
            p.sku = sku.into();
            p.name_zh = name.into();
            p.barcode = None;
            products.push(p);
        }
        let catalog = Catalog::new(products).unwrap();
        let index = ProductIndex::new(&catalog);
        assert_eq!(skus(&catalog, &index.find("cq", None))[0], "CQ-HG-1");
        assert_eq!(skus(&catalog, &index.find("cqhg", None)), ["CQ-HG-1"]);
        assert_eq!(skus(&catalog, &index.find("cscdf", None)), ["CS-CDF-1"]);
        // The first dictionary reading still finds it.
        assert_eq!(skus(&catalog, &index.find("zqhg", None)), ["CQ-HG-1"]);
    }

    #[test]
    fn finds_by_pinyin_initials_sku_and_name() {
        let (catalog, index) = demo();
        let found = skus(&catalog, &index.find("bjhjc", None));
        assert_eq!(found[..2], ["BJ-HJC-250", "BJ-HJC-100"]);
        assert_eq!(
            skus(&catalog, &index.find("xp-czy", None)),
            ["XP-CZY-5L", "XP-CZY-1L"]
        );
        assert!(skus(&catalog, &index.find("茶油", None)).contains(&"XP-CZY-5L".to_string()));
        assert!(skus(&catalog, &index.find("camellia", None)).contains(&"XP-CZY-5L".to_string()));
        assert!(index.find("nothing-like-this", None).is_empty());
    }

    #[test]
    fn several_words_full_width_letters_and_barcode_digits_are_found() {
        let (catalog, index) = demo();
        // Each word must be found: the first by prefix ranks first.
        assert_eq!(
            skus(&catalog, &index.find("bjhjc 250", None)),
            ["BJ-HJC-250"]
        );
        assert_eq!(
            skus(&catalog, &index.find("黄金茶 100g", None)),
            ["BJ-HJC-100"]
        );
        assert!(index.find("bjhjc nothing-like-this", None).is_empty());
        // An input method in full-width mode, on the query's side.
        assert_eq!(
            skus(&catalog, &index.find("ｂｊｈｊｃ　２５０", None)),
            ["BJ-HJC-250"]
        );
        // The digits printed under a barcode, any part of them.
        assert_eq!(skus(&catalog, &index.find("0100296", None)), ["BJ-HJC-100"]);
        // A name written with full-width letters, on the catalog's side.
        let mut products = crate::demo::products().unwrap();
        let mut p = products[0].clone();
        p.sku = "XO-J-1".into();
        p.name_zh = "ＸＯ酱".into();
        p.barcode = None;
        products.push(p);
        let catalog = Catalog::new(products).unwrap();
        let index = ProductIndex::new(&catalog);
        assert_eq!(skus(&catalog, &index.find("xoj", None)), ["XO-J-1"]);
        assert_eq!(skus(&catalog, &index.find("xo酱", None)), ["XO-J-1"]);
    }

    #[test]
    fn categories_filter_and_an_empty_query_lists_everything() {
        let (catalog, index) = demo();
        assert_eq!(index.find("", None).len(), catalog.products().len());
        let tea = index.find("", Some("茶叶"));
        assert!(!tea.is_empty());
        assert!(tea
            .iter()
            .all(|&i| catalog.products()[i].category == "茶叶"));
        assert_eq!(index.categories()[0], "茶叶");
    }
}
