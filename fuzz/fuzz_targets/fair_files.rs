//! A fair file (`fair.toml`, from an organizer, at `init --fair` and `hq init`): never a
//! panic; a file that reads has its barcode rules checked, and a scale label classified
//! under them.
#![no_main]

use fairpos_domain::fair::Fair;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(fair) = Fair::from_toml(text) else {
        return;
    };
    let _ = fair.check_barcode_prefixes();
    let _ = fairpos_domain::codes::classify("2112345012340", &fair.barcode_rules);
});
