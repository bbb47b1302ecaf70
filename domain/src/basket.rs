//! A kiosk basket handed to a till: the shopper chooses "pay at the counter", the kiosk shows
//! and prints a QR code of the basket, and a till that scans it loads the same lines.
//!
//! Payload: `FPB1:<kiosk device>:<item>,<item>,...:<check>` where each item is written as the
//! cart takes it (`SKU*3`, `SKU*750g`, or the scale label of a fixed-amount line), `%` and
//! `,` in it as `%25` and `%2C` (a SKU may hold a comma), and the check is 8 hex digits of
//! SHA-256 of everything before it: a misread code is refused, not half loaded. The till
//! prices the items from its own catalog, but for a scale label's amount. The check is no
//! signature: anyone can make a basket, so a volunteer looks at what it loads (a label's
//! amount above all) as at any label scanned.

use sha2::{Digest, Sha256};

use crate::cart::{Cart, CartLine};
use crate::codes::make_in_store;
use crate::fair::{BarcodeRule, RuleValue};

const PREFIX: &str = "FPB1:";

/// The most scale labels one fixed-amount line is written as, one after another.
const LABELS_PER_LINE: i64 = 8;

/// The most packs of a label a cart takes on a line.
const MOST_PACKS: i64 = crate::cart::MAX_COUNT;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Basket {
    pub kiosk: String,
    /// Items as `Cart::add_item` takes them.
    pub items: Vec<String>,
}

fn check(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

impl Basket {
    /// The basket of `cart`, made at `kiosk`.
    pub fn of_cart(kiosk: &str, cart: &Cart, rules: &[BarcodeRule]) -> Basket {
        let amount_rule = rules.iter().find(|r| r.value == RuleValue::AmountFen);
        let mut items = Vec::new();
        for l in cart.lines() {
            let p = &l.product;
            match (p.weighed, l.fixed_amount, amount_rule, &p.plu) {
                // The label's amount, to the fen, in labels of the rule's digits: one label
                // of more digits (a label times packs) refused the whole basket, and one by
                // weight was priced again from the catalog.
                (true, true, Some(rule), Some(plu)) if plu.len() <= rule.plu_digits => {
                    let most = u32::try_from(rule.value_digits)
                        .ok()
                        .and_then(|d| 10_i64.checked_pow(d))
                        .map_or(i64::MAX, |m| m - 1)
                        .max(1);
                    let mut left = l.amount.0.max(0);
                    // A few labels at most (a code holds a few hundred characters); past
                    // them, one label times the fewest packs that come to the amount (a
                    // label times packs is how such a line was made).
                    if left / most >= LABELS_PER_LINE {
                        let fewest = (left + most - 1) / most;
                        let packs = (fewest..=MOST_PACKS).find(|k| left % k == 0);
                        items.push(match packs {
                            Some(k) => format!("{}*{k}", make_in_store(rule, plu, left / k)),
                            None => format!("{}*{}g", p.sku, l.qty),
                        });
                        continue;
                    }
                    while left > 0 {
                        let amount = left.min(most);
                        items.push(make_in_store(rule, plu, amount));
                        left -= amount;
                    }
                }
                (true, _, _, _) => items.push(by_weight(l, rules)),
                (false, _, _, _) => items.push(format!("{}*{}", p.sku, l.qty)),
            }
        }
        Basket {
            kiosk: kiosk.to_string(),
            items,
        }
    }

    pub fn payload(&self) -> String {
        let items: Vec<String> = self.items.iter().map(|i| escaped(i)).collect();
        let body = format!("{PREFIX}{}:{}", self.kiosk, items.join(","));
        let check = check(&body);
        format!("{body}:{check}")
    }

    /// The basket a scanned code holds; `None` when it is not one or its check fails.
    pub fn parse(text: &str) -> Option<Basket> {
        let text = text.trim();
        if !text.starts_with(PREFIX) {
            return None;
        }
        let (body, sum) = text.rsplit_once(':')?;
        if check(body) != sum {
            return None;
        }
        let (kiosk, items) = body.strip_prefix(PREFIX)?.split_once(':')?;
        let items: Vec<String> = items
            .split(',')
            .filter(|i| !i.is_empty())
            .map(unescaped)
            .collect();
        if kiosk.is_empty() || items.is_empty() {
            return None;
        }
        Some(Basket {
            kiosk: kiosk.to_string(),
            items,
        })
    }
}

/// A weighed line as an item: its weight (`SKU*750g`), priced again as it was; else a
/// weight label times the packs that come to the line's amount (a label times packs is
/// priced per pack: by its whole weight, it was priced again, up to half a fen a pack off).
fn by_weight(l: &CartLine, rules: &[BarcodeRule]) -> String {
    let p = &l.product;
    let by_grams = format!("{}*{}g", p.sku, l.qty);
    let gpu = p.grams_per_unit().unwrap_or(1000);
    let amount = |grams: i64| crate::money::weighed_amount(grams, p.price, gpu);
    if amount(l.qty) == l.amount {
        return by_grams;
    }
    let weight_rule = rules.iter().find(|r| r.value == RuleValue::WeightG);
    let (Some(rule), Some(plu)) = (weight_rule, &p.plu) else {
        return by_grams;
    };
    if plu.len() > rule.plu_digits {
        return by_grams;
    }
    let fits = |grams: i64| grams.to_string().len() <= rule.value_digits;
    let packs = (2..=MOST_PACKS.min(l.qty))
        .find(|k| l.qty % k == 0 && fits(l.qty / k) && amount(l.qty / k).times(*k) == l.amount);
    match packs {
        Some(k) => format!("{}*{k}", make_in_store(rule, plu, l.qty / k)),
        None => by_grams,
    }
}

/// `item` with `%` and `,` written `%25` and `%2C`.
fn escaped(item: &str) -> String {
    item.replace('%', "%25").replace(',', "%2C")
}

/// The item [`escaped`] wrote; a `%` that begins neither escape is taken as it is (a basket
/// of a kiosk from before the escapes, whose SKU holds one).
fn unescaped(item: &str) -> String {
    let mut out = String::with_capacity(item.len());
    let mut rest = item;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let (sign, skip) = match rest.get(at..at + 3) {
            Some("%25") => ('%', 3),
            Some("%2C") => (',', 3),
            _ => ('%', 1),
        };
        out.push(sign);
        rest = &rest[at + skip..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cart::tests::demo;

    #[test]
    fn a_basket_goes_through_its_qr_code_unchanged() {
        let (catalog, fair) = demo();
        let rules = fair.barcode_rules;
        let mut cart = Cart::new();
        for item in [
            "BJ-HJC-250*2",
            "HY-MHT-LB*1.5",
            "2210025024006",
            "2110021007501",
        ] {
            cart.add_item(&catalog, &rules, item).unwrap();
        }
        let basket = Basket::of_cart("K01", &cart, &rules);
        let payload = basket.payload();
        assert!(payload.starts_with("FPB1:K01:BJ-HJC-250*2,HY-MHT-LB*750g,"));
        let back = Basket::parse(&payload).unwrap();
        assert_eq!(back, basket);
        // Loaded into another cart, it is the same cart to the fen.
        let mut again = Cart::new();
        for item in &back.items {
            again.add_item(&catalog, &rules, item).unwrap();
        }
        assert_eq!(again.total(), cart.total());
        assert_eq!(again.lines(), cart.lines());
    }

    #[test]
    fn a_misread_basket_is_refused() {
        let (catalog, fair) = demo();
        let rules = fair.barcode_rules;
        let mut cart = Cart::new();
        cart.add_item(&catalog, &rules, "BJ-HJC-250*2").unwrap();
        let payload = Basket::of_cart("K01", &cart, &rules).payload();
        assert!(Basket::parse(&payload.replace("*2", "*3")).is_none());
        assert!(Basket::parse("FPB1:K01::00000000").is_none());
        assert!(Basket::parse("6935780100128").is_none());
        // A code whose checked body is the bare prefix: refused, not a panic.
        let bare = format!("FPB1:{}", check("FPB1"));
        assert!(Basket::parse(&bare).is_none());
    }

    #[test]
    fn a_sku_with_a_comma_or_percent_and_a_label_over_its_digits_go_through() {
        let (catalog, fair) = demo();
        let rules = fair.barcode_rules;
        let mut products = catalog.products().to_vec();
        let mut odd = products[0].clone();
        odd.sku = "GB,01%2C".into();
        odd.barcode = None;
        products.push(odd);
        let catalog = crate::catalog::Catalog::new(products).unwrap();
        let mut cart = Cart::new();
        cart.add_item(&catalog, &rules, "GB,01%2C*2").unwrap();
        // A label of ￥24.00 times 50 packs: ￥1 200.00, over the label's five digits of fen.
        cart.add_item(&catalog, &rules, "2210025024006*50").unwrap();
        let basket = Basket::of_cart("K01", &cart, &rules);
        assert_eq!(basket.items[0], "GB,01%2C*2");
        assert!(basket.payload().starts_with("FPB1:K01:GB%2C01%252C*2,"));
        let back = Basket::parse(&basket.payload()).unwrap();
        assert_eq!(back, basket);
        let mut again = Cart::new();
        for item in &back.items {
            again.add_item(&catalog, &rules, item).unwrap();
        }
        assert_eq!(again.lines()[0], cart.lines()[0]);
        // The label's ￥1 200.00 in labels of ￥999.99 at most: to the fen.
        assert_eq!(back.items.len(), 3, "{back:?}");
        assert_eq!(again.total(), cart.total());
        // A label times more packs than a few labels hold: one label times packs, to the fen.
        let mut cart = Cart::new();
        cart.add_item(&catalog, &rules, "2210025024013*2120")
            .unwrap();
        let basket = Basket::of_cart("K01", &cart, &rules);
        assert_eq!(
            basket.items,
            ["2210025960403*53"],
            "￥960.40 × 53 = ￥24.01 × 2 120"
        );
        let mut again = Cart::new();
        again.add_item(&catalog, &rules, &basket.items[0]).unwrap();
        assert_eq!(again.total(), cart.total());
        // A weight label times packs: priced per pack, as the cart priced it (by the whole
        // weight, ￥117.16 for ￥117.20).
        let mut cart = Cart::new();
        cart.add_item(&catalog, &rules, "2110021007518*10").unwrap();
        let basket = Basket::of_cart("K01", &cart, &rules);
        assert_eq!(basket.items, ["2110021007518*10"]);
        let mut again = Cart::new();
        again.add_item(&catalog, &rules, &basket.items[0]).unwrap();
        assert_eq!(again.total(), cart.total());
        // A `%` of an older kiosk's SKU, no escape, is taken as it is.
        let older = "FPB1:K01:A%2X*1";
        let back = Basket::parse(&format!("{older}:{}", check(older))).unwrap();
        assert_eq!(back.items, ["A%2X*1"]);
    }
}
