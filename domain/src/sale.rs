//! Completing a sale: the cart, the payments, the buyer and the seller become one immutable
//! `Sale`, numbered by the till.

use chrono::{DateTime, FixedOffset};

use crate::cart::{Cart, CartLine};
use crate::money::Fen;
use crate::payment::{settle, Method, Payment, Tender};
use crate::{DeviceCode, DomainError, SaleNumber};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seller {
    pub id: String,
    pub name: String,
    pub team: String,
    pub stall: String,
}

/// A purchasing unit: trade union, organ, state-owned enterprise or school.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Unified social credit code, validated.
    pub tax_id: String,
    pub name: String,
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Buyer {
    Individual,
    Unit(Unit),
}

/// Everything about a sale that the till, not the cart, decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleContext {
    /// UUID made by the till.
    pub id: String,
    /// Next number in the till's contiguous sequence of sales, from 1.
    pub seq: u64,
    pub device: DeviceCode,
    pub stall: String,
    pub shift: String,
    pub at: DateTime<FixedOffset>,
    pub seller: Seller,
    pub buyer: Buyer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sale {
    pub context: SaleContext,
    /// `T01-000157`.
    pub number: SaleNumber,
    pub lines: Vec<CartLine>,
    pub payments: Vec<Payment>,
    pub total: Fen,
    pub change: Fen,
    /// SKUs this sale takes below zero stock. The sale still goes through.
    pub oversold: Vec<String>,
}

/// Completes a sale. `stock` gives the stock on hand of a SKU before this sale (pieces or
/// grams).
pub fn complete(
    context: SaleContext,
    cart: &Cart,
    tenders: &[Tender],
    stock: impl Fn(&str) -> i64,
) -> Result<Sale, DomainError> {
    if cart.is_empty() {
        return Err(DomainError::EmptyCart);
    }
    let total = cart.total();
    let settlement = settle(total, tenders)?;
    let on_account = settlement
        .payments
        .iter()
        .any(|p| p.method == Method::OnAccount);
    if on_account && context.buyer == Buyer::Individual {
        return Err(DomainError::OnAccountNeedsUnit);
    }
    let mut oversold: Vec<String> = Vec::new();
    for line in cart.lines() {
        let sku = &line.product.sku;
        if oversold.contains(sku) {
            continue;
        }
        let in_cart: i64 = cart
            .lines()
            .iter()
            .filter(|l| &l.product.sku == sku)
            .map(|l| l.qty)
            .sum();
        if stock(sku) - in_cart < 0 {
            oversold.push(sku.clone());
        }
    }
    Ok(Sale {
        number: SaleNumber::new(&context.device, context.seq),
        context,
        lines: cart.lines().to_vec(),
        payments: settlement.payments,
        total,
        change: settlement.change,
        oversold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cart::tests::demo;

    fn context(buyer: Buyer) -> SaleContext {
        SaleContext {
            id: "0b7c".into(),
            seq: 157,
            device: DeviceCode::parse("T03").unwrap(),
            stall: "S01".into(),
            shift: "sh".into(),
            at: DateTime::parse_from_rfc3339("2026-11-22T10:00:00+08:00").unwrap(),
            seller: Seller {
                id: "V003".into(),
                name: "张伟".into(),
                team: "湘韵队".into(),
                stall: "S01".into(),
            },
            buyer,
        }
    }

    #[test]
    fn a_sale_is_numbered_settled_and_flagged_when_oversold() {
        let (catalog, fair) = demo();
        let mut cart = Cart::new();
        cart.add_item(&catalog, &fair.barcode_rules, "BJ-HJC-250*2")
            .unwrap();
        cart.add_item(&catalog, &fair.barcode_rules, "FH-JT-300")
            .unwrap();
        let tenders = [Tender::parse("cash:300").unwrap()];
        let stock = |sku: &str| if sku == "BJ-HJC-250" { 1 } else { 50 };
        let sale = complete(context(Buyer::Individual), &cart, &tenders, stock).unwrap();
        assert_eq!(sale.number.to_string(), "T03-000157");
        assert_eq!(sale.total, Fen(28100));
        assert_eq!(sale.change, Fen(1900));
        assert_eq!(sale.oversold, vec!["BJ-HJC-250".to_string()]);
    }

    #[test]
    fn on_account_needs_a_unit_and_the_cart_must_not_be_empty() {
        let (catalog, fair) = demo();
        let tenders = [Tender::parse("on_account").unwrap()];
        assert_eq!(
            complete(context(Buyer::Individual), &Cart::new(), &tenders, |_| 0),
            Err(DomainError::EmptyCart)
        );
        let mut cart = Cart::new();
        cart.add_item(&catalog, &fair.barcode_rules, "XP-CZY-5L")
            .unwrap();
        assert_eq!(
            complete(context(Buyer::Individual), &cart, &tenders, |_| 9),
            Err(DomainError::OnAccountNeedsUnit)
        );
        let unit = Buyer::Unit(Unit {
            tax_id: "12430000444883027E".into(),
            name: "中南大学".into(),
            kind: "school".into(),
        });
        let sale = complete(context(unit), &cart, &tenders, |_| 9).unwrap();
        assert_eq!(sale.payments[0].amount, Fen(39800));
    }
}
