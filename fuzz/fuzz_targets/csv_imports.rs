//! The fair's CSV imports (catalog, stalls, sellers, units) and the payment providers'
//! statements: any bytes are read whole or refused, never a panic; a catalog that reads
//! writes back to a file that reads the same.
#![no_main]

use fairpos_domain::catalog_csv::{
    parse_catalog, parse_sellers, parse_stalls, parse_units, write_catalog,
};
use fairpos_domain::statement::{self, Provider};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Statements come in any encoding (GBK, UTF-8 with or without BOM).
    for provider in [Provider::Wechat, Provider::Alipay] {
        let _ = statement::parse("fuzz.csv", data, provider);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rows) = parse_catalog("fuzz.csv", text) {
        let written = write_catalog(&rows).expect("a catalog that was read writes");
        let written = String::from_utf8(written).expect("the catalog is written in UTF-8");
        let again = parse_catalog("again.csv", &written).expect("a written catalog reads");
        assert_eq!(rows, again, "the catalog changed on its way out and back");
    }
    let _ = parse_stalls("fuzz.csv", text);
    let _ = parse_sellers("fuzz.csv", text);
    let _ = parse_units("fuzz.csv", text);
});
