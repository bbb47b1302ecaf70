//! What a scanner or a camera reads: product and in-store barcodes under the demo fair's
//! rules, credit codes, payment codes, receipt QR codes and shift slips. Never a panic; a
//! code that reads writes back to a code that reads the same.
#![no_main]

use std::sync::OnceLock;

use fairpos_domain::codes::{
    classify, parse_credit_code, parse_gtin, payment_code_kind, ReceiptQr,
};
use fairpos_domain::fair::Fair;
use fairpos_domain::slip::ShiftSlip;
use libfuzzer_sys::fuzz_target;

fn fair() -> &'static Fair {
    static FAIR: OnceLock<Fair> = OnceLock::new();
    FAIR.get_or_init(|| Fair::from_toml(fairpos_domain::demo::FAIR_TOML).unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Ok(code) = std::str::from_utf8(data) else {
        return;
    };
    let _ = classify(code, &fair().barcode_rules);
    if let Ok(Some(gtin)) = parse_gtin(code) {
        // The catalog form reads as a code of the same catalog form (UPC-A as EAN-13).
        let again = parse_gtin(&gtin.catalog_form()).expect("a GTIN's catalog form reads");
        assert_eq!(again.map(|g| g.catalog_form()), Some(gtin.catalog_form()));
    }
    let _ = parse_credit_code(code);
    let _ = payment_code_kind(code);
    if let Some(qr) = ReceiptQr::parse(code) {
        assert_eq!(ReceiptQr::parse(&qr.payload()), Some(qr));
    }
    if let Ok((slip, body, signature)) = ShiftSlip::parse(code) {
        assert_eq!(slip.body(), body, "a slip's body is what was signed");
        let (again, _, _) = ShiftSlip::parse(&slip.text(&signature)).expect("a slip rereads");
        assert_eq!(again, slip);
    }
});
