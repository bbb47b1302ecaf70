//! A committed sale in the words of its receipt.

use fairpos_hardware::receipt::{yuan, Receipt, ReceiptLine};

use fairpos_domain::cart::Cart;
use fairpos_domain::catalog::{grams_in_units, grams_per_unit};
use fairpos_domain::codes::ReceiptQr;
use fairpos_domain::payment::Method;
use fairpos_projection::queries::SaleDetail;

use crate::store::Identity;

/// What a receipt says of `sale`. `key` signs its QR code.
pub fn receipt(identity: &Identity, sale: &SaleDetail, key: &[u8], reprint: bool) -> Receipt {
    let s = &sale.summary;
    let stall = match &sale.stall_name {
        Some(name) => format!("{name} {}", sale.stall),
        None => sale.stall.clone(),
    };
    // `at` is RFC 3339 at the fair's offset: 2026-11-22T10:15:00+08:00.
    let time = format!(
        "{} {}",
        s.at.get(..10).unwrap_or(&s.at),
        s.at.get(11..16).unwrap_or("")
    );
    let mut header = vec![
        ("单号 No.".to_string(), s.number.clone()),
        ("时间".to_string(), time),
        (
            "收银 Seller".to_string(),
            format!("{} {} {}", s.seller_name, s.seller, s.team),
        ),
    ];
    if s.voided {
        header.push(("状态".into(), "已作废 VOID".into()));
    }
    let lines = sale
        .lines
        .iter()
        .map(|l| {
            let (quantity, unit_price) = match (l.weighed, grams_per_unit(&l.unit)) {
                (true, Some(g)) => (
                    format!("{}{}", grams_in_units(l.qty, g), l.unit),
                    format!("{}/{}", yuan(l.unit_price.0), l.unit),
                ),
                _ => (format!("{}{}", l.qty, l.unit), yuan(l.unit_price.0)),
            };
            ReceiptLine {
                name: l.name_zh.clone(),
                quantity,
                unit_price,
                amount_fen: l.amount.0,
            }
        })
        .collect();
    let payments = sale
        .payments
        .iter()
        .map(|(method, _, tendered)| {
            let label = match Method::parse(method) {
                Ok(m) => format!("{} {}", m.label_zh(), m.as_str()),
                Err(_) => method.clone(),
            };
            (label, tendered.0)
        })
        .collect();
    let buyer = match (&s.unit_name, &s.unit_tax_id) {
        (Some(name), Some(code)) => vec![
            ("购买单位".to_string(), name.clone()),
            ("信用代码".to_string(), code.clone()),
        ],
        _ => Vec::new(),
    };
    Receipt {
        title: identity.fair.name.clone(),
        subtitle: stall,
        header,
        lines,
        total_fen: s.total.0,
        payments,
        change_fen: s.change.0,
        buyer,
        qr: Some(ReceiptQr::new(key, &s.number, &s.id).payload()),
        qr_caption: "扫码退换货、开发票".into(),
        footer: vec!["谢谢惠顾！消费帮扶 助农增收".into()],
        reprint,
        open_drawer: false,
    }
}

/// The slip a kiosk prints for "pay at the counter": the basket's lines and total, and the
/// basket's QR code for the till to scan. Not a receipt: nothing is sold yet.
pub fn basket_slip(identity: &Identity, cart: &Cart, payload: &str, time: &str) -> Receipt {
    let lines = cart
        .lines()
        .iter()
        .map(|l| {
            let p = &l.product;
            let (quantity, unit_price) = if p.weighed {
                (
                    format!("{}{}", p.units_text(l.qty), p.unit),
                    format!("{}/{}", yuan(p.price.0), p.unit),
                )
            } else {
                (format!("{}{}", l.qty, p.unit), yuan(p.price.0))
            };
            ReceiptLine {
                name: p.name_zh.clone(),
                quantity,
                unit_price,
                amount_fen: l.amount.0,
            }
        })
        .collect();
    Receipt {
        title: identity.fair.name.clone(),
        subtitle: "自助机购物单 Basket".into(),
        header: vec![
            ("自助机 Kiosk".to_string(), identity.device.to_string()),
            ("时间".to_string(), time.to_string()),
        ],
        lines,
        total_fen: cart.total().0,
        payments: Vec::new(),
        change_fen: 0,
        buyer: Vec::new(),
        qr: Some(payload.to_string()),
        qr_caption: "请到收银台扫码付款 Pay at the counter".into(),
        footer: vec!["未付款 NOT PAID".into()],
        reprint: false,
        open_drawer: false,
    }
}
