//! Ledger records as a till stores them (JSON in its journal and its Automerge documents):
//! any text is read or refused, never a panic, as `Record`'s derived decoding reads or refuses
//! it; a record that reads writes back the same. The same bytes as a stored ledger document
//! load or are refused.
#![no_main]

use fairpos_sync::{LedgerDoc, LedgerId, Record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        // A sale's quicker reading answers as the derived one does, refusals included.
        let generic = serde_json::from_str::<Record>(text).map_err(|e| e.to_string());
        assert_eq!(
            Record::from_json(text).map_err(|e| e.to_string()),
            generic
        );
        if let Ok(record) = Record::from_json(text) {
            let json = record.to_json().expect("a record that was read writes");
            let again = Record::from_json(&json).expect("a written record reads");
            assert_eq!(again, record);
        }
    }
    if let Ok(automerge) = automerge::Automerge::load(data) {
        let id = LedgerId::from_key("ledger/fair-fuzz/T01/2026-11-22").unwrap();
        if let Ok(ledger) = LedgerDoc::open(id, automerge) {
            let _ = ledger.records();
            let _ = ledger.sales();
        }
    }
});
