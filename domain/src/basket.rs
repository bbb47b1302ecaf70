//! A kiosk basket handed to a till: the shopper chooses "pay at the counter", the kiosk shows
//! and prints a QR code of the basket, and a till that scans it loads the same lines.
//!
//! Payload: `FPB1:<kiosk device>:<item>,<item>,...:<check>` where each item is written as the
//! cart takes it (`SKU*3`, `SKU*750g`, or the scale label of a fixed-amount line) and the
//! check is 8 hex digits of SHA-256 of everything before it: a misread code is refused, not
//! half loaded. The till prices the items from its own catalog; the basket names no prices.

use sha2::{Digest, Sha256};

use crate::cart::Cart;
use crate::codes::make_in_store;
use crate::fair::{BarcodeRule, RuleValue};

const PREFIX: &str = "FPB1:";

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
        let items = cart
            .lines()
            .iter()
            .map(|l| {
                let p = &l.product;
                match (p.weighed, l.fixed_amount, amount_rule, &p.plu) {
                    (true, true, Some(rule), Some(plu)) => make_in_store(rule, plu, l.amount.0),
                    (true, _, _, _) => format!("{}*{}g", p.sku, l.qty),
                    (false, _, _, _) => format!("{}*{}", p.sku, l.qty),
                }
            })
            .collect();
        Basket {
            kiosk: kiosk.to_string(),
            items,
        }
    }

    pub fn payload(&self) -> String {
        let body = format!("{PREFIX}{}:{}", self.kiosk, self.items.join(","));
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
            .map(str::to_string)
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
}
