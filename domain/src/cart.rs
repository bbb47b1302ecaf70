//! The cart: lines added by barcode, scale label, PLU or SKU, with quantities and weights.

use crate::catalog::{parse_milli, Catalog, Product};
use crate::codes::{parse_gtin, parse_in_store, payment_code_kind, InStoreValue, ReceiptQr};
use crate::fair::BarcodeRule;
use crate::money::{weighed_amount, Fen, MAX_INPUT_FEN};
use crate::{DomainError, QuantityIssue};

/// Most pieces on one line (and packs of one scale label), and most grams (a tonne): beyond
/// that it is a typing slip.
pub const MAX_COUNT: i64 = 100_000;
const MAX_GRAMS: i64 = 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CartLine {
    pub product: Product,
    /// Pieces, or grams for weighed goods.
    pub qty: i64,
    pub amount: Fen,
    /// A scale label that printed the amount itself (`22` codes); the amount is kept as is.
    pub fixed_amount: bool,
}

impl CartLine {
    fn counted(product: Product, qty: i64) -> CartLine {
        let amount = product.price.times(qty);
        CartLine {
            product,
            qty,
            amount,
            fixed_amount: false,
        }
    }

    fn weighed(product: Product, grams: i64) -> CartLine {
        let gpu = product.grams_per_unit().unwrap_or(1000);
        let amount = weighed_amount(grams, product.price, gpu);
        CartLine {
            product,
            qty: grams,
            amount,
            fixed_amount: false,
        }
    }
}

/// What a scanned or typed code turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved<'a> {
    /// A product by barcode, SKU or PLU; its quantity comes from elsewhere.
    Product(&'a Product),
    /// A scale label naming its weighed product and the weight or amount.
    Label {
        product: &'a Product,
        value: InStoreValue,
    },
}

/// Finds what `code` names: an exact SKU first, then a scale label through the fair's rules,
/// then a product barcode (check digit validated), then a PLU of weighed goods.
pub fn resolve<'a>(
    catalog: &'a Catalog,
    rules: &[BarcodeRule],
    code: &str,
) -> Result<Resolved<'a>, DomainError> {
    let code = code.trim();
    if let Some(p) = catalog.by_sku(code) {
        return Ok(Resolved::Product(p));
    }
    let unknown = || DomainError::UnknownCode {
        code: code.to_string(),
    };
    if let Some(label) = parse_in_store(code, rules)? {
        let product = catalog.by_plu(&label.plu).ok_or_else(unknown)?;
        if !product.weighed {
            return Err(DomainError::BadQuantity {
                item: code.to_string(),
                why: QuantityIssue::NotWeighed {
                    plu: label.plu,
                    sku: product.sku.clone(),
                },
            });
        }
        return Ok(Resolved::Label {
            product,
            value: label.value,
        });
    }
    if let Some(gtin) = parse_gtin(code)? {
        return catalog
            .by_barcode(&gtin.catalog_form())
            .map(Resolved::Product)
            .ok_or_else(unknown);
    }
    if let Some(kind) = payment_code_kind(code) {
        return Err(DomainError::PaymentCode { kind });
    }
    if let Some(qr) = ReceiptQr::parse(code) {
        return Err(DomainError::ReceiptScanned { number: qr.number });
    }
    if code.len() <= 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(p) = catalog.by_plu(code).filter(|p| p.weighed) {
            return Ok(Resolved::Product(p));
        }
    }
    if let Some(p) = catalog.by_sku(&code.to_uppercase()) {
        return Ok(Resolved::Product(p));
    }
    Err(unknown())
}

/// Splits `CODE*N` into the code and the quantity text.
pub fn split_item(item: &str) -> (&str, Option<&str>) {
    match item.rsplit_once('*') {
        Some((code, qty)) => (code, Some(qty)),
        None => (item, None),
    }
}

/// A whole number written in digits alone (past `i64`, `i64::MAX`: the callers' limits
/// refuse it); `None` for anything else.
fn digits(text: &str) -> Option<i64> {
    let t = text.trim();
    (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().unwrap_or(i64::MAX))
}

fn whole_count(item: &str, text: &str) -> Result<i64, DomainError> {
    let Some(n) = digits(text) else {
        return Err(DomainError::BadQuantity {
            item: item.to_string(),
            why: QuantityIssue::NotWholePieces(text.to_string()),
        });
    };
    if n == 0 {
        return Err(DomainError::ZeroQuantity {
            item: item.to_string(),
        });
    }
    if n > MAX_COUNT {
        return Err(DomainError::BadQuantity {
            item: item.to_string(),
            why: QuantityIssue::TooManyPieces(MAX_COUNT),
        });
    }
    Ok(n)
}

/// A weight typed for a weighed product: in its unit (`1.5` 斤, up to three decimals) or in
/// grams (`750g`).
fn typed_grams(item: &str, product: &Product, text: &str) -> Result<i64, DomainError> {
    let bad = |why: QuantityIssue| DomainError::BadQuantity {
        item: item.to_string(),
        why,
    };
    let t = text.trim();
    let grams = if let Some(g) = t.strip_suffix('g').filter(|g| !g.ends_with('k')) {
        // Grams are held to the weight's limit below, not to the pieces' (150 kg typed as
        // `150000g` was refused as "not a whole number of grams").
        digits(g).ok_or_else(|| bad(QuantityIssue::NotWholeGrams(text.to_string())))?
    } else {
        let gpu = product.grams_per_unit().unwrap_or(1000);
        let milli = parse_milli(t).ok_or_else(|| {
            bad(QuantityIssue::NotAWeight {
                text: text.to_string(),
                unit: product.unit.clone(),
            })
        })?;
        (milli * gpu + 500) / 1000
    };
    if grams == 0 {
        return Err(DomainError::ZeroQuantity {
            item: item.to_string(),
        });
    }
    if grams > MAX_GRAMS {
        return Err(bad(QuantityIssue::TooHeavy(MAX_GRAMS / 1000)));
    }
    Ok(grams)
}

/// Pieces of one line: at least one, at most [`MAX_COUNT`].
fn check_count(item: &str, n: i64) -> Result<(), DomainError> {
    if n <= 0 {
        return Err(DomainError::ZeroQuantity { item: item.into() });
    }
    if n > MAX_COUNT {
        return Err(DomainError::BadQuantity {
            item: item.into(),
            why: QuantityIssue::TooManyPieces(MAX_COUNT),
        });
    }
    Ok(())
}

/// Grams of one weighed line: more than none, at most [`MAX_GRAMS`].
fn check_grams(item: &str, grams: i64) -> Result<(), DomainError> {
    if grams <= 0 {
        return Err(DomainError::ZeroQuantity { item: item.into() });
    }
    if grams > MAX_GRAMS {
        return Err(DomainError::BadQuantity {
            item: item.into(),
            why: QuantityIssue::TooHeavy(MAX_GRAMS / 1000),
        });
    }
    Ok(())
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cart {
    lines: Vec<CartLine>,
}

impl Cart {
    pub fn new() -> Cart {
        Cart::default()
    }

    pub fn lines(&self) -> &[CartLine] {
        &self.lines
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn total(&self) -> Fen {
        self.lines.iter().map(|l| l.amount).sum()
    }

    /// Adds an item as typed or scanned: `CODE` or `CODE*N`. For counted goods N is pieces;
    /// for weighed goods named by SKU or PLU it is the weight (`1.5` in the product's unit, or
    /// `750g`); for a scale label it is how many identical labelled packs. Returns the index
    /// of the line that changed.
    pub fn add_item(
        &mut self,
        catalog: &Catalog,
        rules: &[BarcodeRule],
        item: &str,
    ) -> Result<usize, DomainError> {
        self.within_a_sale(item, |cart| cart.add_item_unbounded(catalog, rules, item))
    }

    fn add_item_unbounded(
        &mut self,
        catalog: &Catalog,
        rules: &[BarcodeRule],
        item: &str,
    ) -> Result<usize, DomainError> {
        let (code, qty) = split_item(item.trim());
        match resolve(catalog, rules, code)? {
            Resolved::Product(p) if p.weighed => {
                let Some(qty) = qty else {
                    return Err(DomainError::BadQuantity {
                        item: item.to_string(),
                        why: QuantityIssue::NeedsWeight {
                            sku: p.sku.clone(),
                            code: code.to_string(),
                            unit: p.unit.clone(),
                        },
                    });
                };
                let grams = typed_grams(item, p, qty)?;
                check_grams(item, grams)?;
                self.lines.push(CartLine::weighed(p.clone(), grams));
                Ok(self.lines.len() - 1)
            }
            Resolved::Product(p) => {
                let n = match qty {
                    Some(q) => whole_count(item, q)?,
                    None => 1,
                };
                // Said of the item as typed.
                self.add_counted_unbounded(p.clone(), n)
                    .map_err(|e| match e {
                        DomainError::BadQuantity { why, .. } => DomainError::BadQuantity {
                            item: item.to_string(),
                            why,
                        },
                        other => other,
                    })
            }
            Resolved::Label { product, value } => {
                let packs = match qty {
                    Some(q) => whole_count(item, q)?,
                    None => 1,
                };
                let line = match value {
                    InStoreValue::Grams(g) => {
                        if g == 0 {
                            return Err(DomainError::ZeroQuantity {
                                item: item.to_string(),
                            });
                        }
                        let mut line = CartLine::weighed(product.clone(), g);
                        line.qty *= packs;
                        line.amount = line.amount.times(packs);
                        line
                    }
                    InStoreValue::AmountFen(fen) => {
                        if fen == 0 {
                            return Err(DomainError::ZeroQuantity {
                                item: item.to_string(),
                            });
                        }
                        let gpu = product.grams_per_unit().unwrap_or(1000);
                        // The label states the amount; the weight follows from the price.
                        // A gram at least: a product priced 0 in the catalog (the scale
                        // priced it), or an amount under half a gram's worth, made a line
                        // of no weight that could then never be refunded.
                        // In i128, rounded half up: a catalog document's price beyond
                        // 4.6e18 fen overflowed `2 * price` (a panic, or a wrapped weight).
                        let grams = if product.price.is_positive() {
                            let (fen, gpu, price) = (
                                i128::from(fen),
                                i128::from(gpu),
                                i128::from(product.price.0),
                            );
                            let grams = (2 * fen * gpu + price) / (2 * price);
                            i64::try_from(grams).unwrap_or(i64::MAX)
                        } else {
                            0
                        };
                        let grams = grams.max(1);
                        CartLine {
                            product: product.clone(),
                            qty: grams * packs,
                            amount: Fen(fen).times(packs),
                            fixed_amount: true,
                        }
                    }
                };
                // Labels times packs weigh no more than a weight typed may: `*100000` of a
                // label made a line of ten thousand tonnes.
                check_grams(item, line.qty)?;
                self.lines.push(line);
                Ok(self.lines.len() - 1)
            }
        }
    }

    /// Adds `n` pieces, on the product's existing line if it has one.
    pub fn add_counted(&mut self, product: Product, n: i64) -> Result<usize, DomainError> {
        let item = product.sku.clone();
        self.within_a_sale(&item, |cart| cart.add_counted_unbounded(product, n))
    }

    fn add_counted_unbounded(&mut self, product: Product, n: i64) -> Result<usize, DomainError> {
        if let Some(i) = self
            .lines
            .iter()
            .position(|l| !l.product.weighed && l.product.sku == product.sku)
        {
            let line = &mut self.lines[i];
            let qty = line.qty.saturating_add(n);
            check_count(&product.sku, qty)?;
            *line = CartLine::counted(line.product.clone(), qty);
            return Ok(i);
        }
        check_count(&product.sku, n)?;
        self.lines.push(CartLine::counted(product, n));
        Ok(self.lines.len() - 1)
    }

    /// Adds a weighed line of `grams`.
    pub fn add_weighed(&mut self, product: Product, grams: i64) -> Result<usize, DomainError> {
        check_grams(&product.sku, grams)?;
        let item = product.sku.clone();
        self.within_a_sale(&item, |cart| {
            cart.lines.push(CartLine::weighed(product, grams));
            Ok(cart.lines.len() - 1)
        })
    }

    /// Sets the pieces of a counted line.
    pub fn set_count(&mut self, index: usize, n: i64) -> Result<(), DomainError> {
        let line = self.line_mut(index)?;
        let item = line.product.sku.clone();
        if line.product.weighed {
            return Err(DomainError::BadQuantity {
                item,
                why: QuantityIssue::WeighedTakesWeight,
            });
        }
        check_count(&item, n)?;
        let product = line.product.clone();
        self.within_a_sale(&item, |cart| {
            cart.lines[index] = CartLine::counted(product, n);
            Ok(())
        })
    }

    /// Sets the weight of a weighed line, repricing it.
    pub fn set_grams(&mut self, index: usize, grams: i64) -> Result<(), DomainError> {
        let line = self.line_mut(index)?;
        let item = line.product.sku.clone();
        if !line.product.weighed {
            return Err(DomainError::BadQuantity {
                item,
                why: QuantityIssue::CountedTakesPieces,
            });
        }
        check_grams(&item, grams)?;
        let product = line.product.clone();
        self.within_a_sale(&item, |cart| {
            cart.lines[index] = CartLine::weighed(product, grams);
            Ok(())
        })
    }

    /// Makes `change` for `item`, undone and refused when a line or the sale would then come
    /// to more than [`MAX_INPUT_FEN`] (ten billion yuan) either way: no till writes a sale
    /// past what headquarters takes, and no sum of its lines overflows.
    fn within_a_sale<T>(
        &mut self,
        item: &str,
        change: impl FnOnce(&mut Cart) -> Result<T, DomainError>,
    ) -> Result<T, DomainError> {
        let before = self.lines.clone();
        let changed = change(self).inspect_err(|_| self.lines.clone_from(&before))?;
        // Either way: a product a till added may carry a negative price.
        let amounts = || self.lines.iter().map(|l| i128::from(l.amount.0));
        let within = |fen: i128| fen.abs() <= i128::from(MAX_INPUT_FEN);
        if !(amounts().all(within) && within(amounts().sum())) {
            self.lines = before;
            return Err(DomainError::BadQuantity {
                item: item.to_string(),
                why: QuantityIssue::SaleOver(MAX_INPUT_FEN / 100),
            });
        }
        Ok(changed)
    }

    pub fn remove(&mut self, index: usize) -> Option<CartLine> {
        (index < self.lines.len()).then(|| self.lines.remove(index))
    }

    pub fn clear(&mut self) {
        self.lines.clear();
    }

    fn line_mut(&mut self, index: usize) -> Result<&mut CartLine, DomainError> {
        let len = self.lines.len();
        self.lines.get_mut(index).ok_or(DomainError::BadQuantity {
            item: format!("line {}", index + 1),
            why: QuantityIssue::NoSuchLine { lines: len },
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codes::make_in_store;
    use crate::fair::Fair;

    pub(crate) fn demo() -> (Catalog, Fair) {
        let fair = Fair::from_toml(crate::demo::FAIR_TOML).unwrap();
        let products = crate::demo::products().unwrap();
        (Catalog::new(products).unwrap(), fair)
    }

    #[test]
    fn a_sale_comes_to_ten_billion_yuan_at_most_and_a_refused_change_leaves_the_cart() {
        let (c, f) = demo();
        let mut product = c.by_sku("BJ-HJC-250").unwrap().clone();
        product.price = Fen(MAX_INPUT_FEN / 2);
        let mut cart = Cart::new();
        cart.add_counted(product.clone(), 2).unwrap();
        let kept = cart.lines().to_vec();
        let over = cart
            .add_counted(product.clone(), 1)
            .unwrap_err()
            .to_string();
        assert!(over.contains("more than 10000000000 yuan"), "{over}");
        assert_eq!(cart.lines(), kept, "the line keeps its 2 pieces");
        assert!(cart.set_count(0, 3).is_err());
        let scanned = cart.add_item(&c, &f.barcode_rules, "BJ-HJC-250");
        let scanned = scanned.unwrap_err().to_string();
        assert!(scanned.contains("more than 10000000000 yuan"), "{scanned}");
        assert_eq!(cart.lines(), kept);
        // Negative prices (a product a till added) are held to it too.
        let mut rebate = product.clone();
        rebate.price = Fen(-MAX_INPUT_FEN / 2);
        rebate.sku = "REBATE".into();
        let mut cart = Cart::new();
        cart.add_counted(rebate.clone(), 2).unwrap();
        assert!(cart.add_counted(rebate, 1).is_err());
        assert_eq!(cart.total(), Fen(-MAX_INPUT_FEN));
        // A price no till takes (a forged catalog) saturates and is refused, never wraps.
        product.price = Fen(i64::MAX);
        let mut cart = Cart::new();
        assert!(cart.add_counted(product.clone(), 100_000).is_err());
        product.weighed = true;
        assert!(cart.add_weighed(product, 1_000_000).is_err());
        assert!(cart.is_empty());
    }

    #[test]
    fn scans_merge_on_one_line() {
        let (c, f) = demo();
        let mut cart = Cart::new();
        cart.add_item(&c, &f.barcode_rules, "6935780100128")
            .unwrap();
        cart.add_item(&c, &f.barcode_rules, "BJ-HJC-250*2").unwrap();
        assert_eq!(cart.lines().len(), 1);
        assert_eq!(cart.lines()[0].qty, 3);
        assert_eq!(cart.total(), Fen(38400));
    }

    #[test]
    fn weighed_goods_by_label_plu_and_typed_weight() {
        let (c, f) = demo();
        let rules = &f.barcode_rules;
        let mut cart = Cart::new();
        // 750 g of kiwifruit at 7.80/斤 = 11.70
        cart.add_item(&c, rules, &make_in_store(&rules[0], "10021", 750))
            .unwrap();
        // cured pork label stating 24.00 at 48.00/斤: 250 g
        cart.add_item(&c, rules, &make_in_store(&rules[1], "10025", 2400))
            .unwrap();
        // 1.5 kg of oranges at 12.00/kg by SKU
        cart.add_item(&c, rules, "MY-BTC-LB*1.5").unwrap();
        // 333 g of ponkan by PLU at 3.50/斤 = 2.331 -> 2.33
        cart.add_item(&c, rules, "10024*333g").unwrap();
        let amounts: Vec<i64> = cart.lines().iter().map(|l| l.amount.0).collect();
        assert_eq!(amounts, vec![1170, 2400, 1800, 233]);
        let grams: Vec<i64> = cart.lines().iter().map(|l| l.qty).collect();
        assert_eq!(grams, vec![750, 250, 1500, 333]);
    }

    /// Grams typed are held to the weight's limit (1 000 kg), not the pieces' (100 000); an
    /// amount label of a product priced 0 (its scale priced it) weighs a gram, not nothing
    /// (a line of no weight could never be refunded).
    #[test]
    fn grams_typed_reach_the_weights_limit_and_an_amount_label_weighs_something() {
        let (mut c, f) = demo();
        let rules = &f.barcode_rules;
        let mut cart = Cart::new();
        cart.add_item(&c, rules, "HY-MHT-LB*150000g").unwrap();
        assert_eq!(cart.lines()[0].qty, 150_000);
        let over = cart.add_item(&c, rules, "HY-MHT-LB*1000001g").unwrap_err();
        assert!(over.to_string().contains("1000 kg"), "{over}");
        let bad = cart.add_item(&c, rules, "HY-MHT-LB*1.5g").unwrap_err();
        assert!(bad.to_string().contains("whole number of grams"), "{bad}");
        // Scale labels by the pack are held to it too, both kinds, the cart left as it was.
        let kiwi = make_in_store(&rules[0], "10021", 750);
        cart.add_item(&c, rules, &format!("{kiwi}*1000")).unwrap();
        for label in [kiwi, make_in_store(&rules[1], "10025", 2400)] {
            let over = cart.add_item(&c, rules, &format!("{label}*100000"));
            let over = over.unwrap_err().to_string();
            assert!(over.contains("1000 kg"), "{over}");
        }
        assert_eq!(cart.lines().len(), 2);
        let mut unpriced = c.by_sku("YS-LR-LB").unwrap().clone();
        unpriced.price = Fen(0);
        c = Catalog::new(vec![unpriced]).unwrap();
        let mut cart = Cart::new();
        cart.add_item(&c, rules, &make_in_store(&rules[1], "10025", 2400))
            .unwrap();
        assert_eq!(
            (cart.lines()[0].qty, cart.lines()[0].amount),
            (1, Fen(2400))
        );
        // A price no catalog means (a forged document's) weighs a gram, with no overflow.
        let mut priceless = c.by_sku("YS-LR-LB").unwrap().clone();
        priceless.price = Fen(i64::MAX);
        c = Catalog::new(vec![priceless]).unwrap();
        let mut cart = Cart::new();
        cart.add_item(&c, rules, &make_in_store(&rules[1], "10025", 2400))
            .unwrap();
        assert_eq!(cart.lines()[0].qty, 1);
    }

    #[test]
    fn bad_items_are_named() {
        let (c, f) = demo();
        let rules = &f.barcode_rules;
        let mut cart = Cart::new();
        let cases = [
            ("6935780100129", "bad check digit"),
            ("96385075", "bad check digit"),
            ("6901234567892", "unknown code"),
            ("NOPE-1", "unknown code"),
            ("BJ-HJC-250*0", "zero quantity"),
            ("BJ-HJC-250*1.5", "not a whole number"),
            ("HY-MHT-LB", "sold by weight"),
            ("HY-MHT-LB*0", "zero quantity"),
            ("HY-MHT-LB*1.2345", "up to 3 decimals"),
        ];
        for (item, want) in cases {
            let err = cart.add_item(&c, rules, item).unwrap_err().to_string();
            assert!(err.contains(want), "{item}: {err}");
        }
        assert!(cart.is_empty());
    }

    #[test]
    fn quantities_change_and_lines_go() {
        let (c, f) = demo();
        let mut cart = Cart::new();
        cart.add_item(&c, &f.barcode_rules, "GZ-MJ-200").unwrap();
        cart.add_item(&c, &f.barcode_rules, "LX-PG-LB*1").unwrap();
        cart.set_count(0, 4).unwrap();
        assert_eq!(cart.lines()[0].amount, Fen(38400));
        assert!(matches!(
            cart.set_count(0, 0),
            Err(DomainError::ZeroQuantity { .. })
        ));
        cart.set_grams(1, 1000).unwrap();
        assert_eq!(cart.lines()[1].amount, Fen(700));
        assert!(cart.set_grams(0, 10).is_err());
        cart.remove(0);
        assert_eq!(cart.total(), Fen(700));
    }
}
