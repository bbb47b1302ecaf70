//! Finding products as a volunteer types: by SKU, by name (Chinese or English) or by the
//! pinyin initials of the Chinese name (保靖黄金茶 ← `bjhjc`). Pure; the index is built once
//! per catalog.

use pinyin::ToPinyin;

use crate::catalog::{Catalog, Product};

/// The pinyin initials of `text`: a letter per Chinese character, ASCII letters and digits
/// kept, everything else dropped (`保靖黄金茶 250g` → `bjhjc250g`).
pub fn initials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if let Some(p) = c.to_pinyin() {
            out.push_str(p.first_letter());
        } else if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

struct Entry {
    sku: String,
    name_zh: String,
    name_en: String,
    initials: String,
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
                    sku: p.sku.to_lowercase(),
                    name_zh: p.name_zh.to_lowercase(),
                    name_en: p.name_en.to_lowercase(),
                    initials: initials(&p.name_zh),
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
    /// that `query` finds: SKU and initials by prefix, names anywhere. An empty query finds
    /// every product of the category. Products whose SKU or initials start with the query
    /// come first.
    pub fn find(&self, query: &str, category: Option<&str>) -> Vec<usize> {
        let q = query.trim().to_lowercase();
        let mut first = Vec::new();
        let mut then = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if category.is_some_and(|c| c != e.category) {
                continue;
            }
            if q.is_empty() || e.sku.starts_with(&q) || e.initials.starts_with(&q) {
                first.push(i);
            } else if e.name_zh.contains(&q)
                || e.name_en.contains(&q)
                || e.initials.contains(&q)
                || e.sku.contains(&q)
            {
                then.push(i);
            }
        }
        first.extend(then);
        first
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
        assert_eq!(initials("保靖黄金茶 250g"), "bjhjc250g");
        assert_eq!(initials("湘西腊肉"), "xxlr");
        assert_eq!(initials("Ａ·b"), "b");
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
