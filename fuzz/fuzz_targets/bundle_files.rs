//! A USB bundle as headquarters imports it: the JSON, its signature, each document's key,
//! base64 and Automerge bytes, and the ledger records in them. Any file is refused or read,
//! never a panic.
#![no_main]

use fairpos_sync::bundle::Bundle;
use fairpos_sync::{LedgerDoc, LedgerId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = serde_json::from_slice::<Bundle>(data) else {
        return;
    };
    let _ = bundle.verify("");
    for doc in &bundle.docs {
        let Some(id) = LedgerId::from_key(&doc.key) else {
            continue;
        };
        let Some(bytes) = doc.bytes() else {
            continue;
        };
        let Ok(automerge) = automerge::Automerge::load(&bytes) else {
            continue;
        };
        if let Ok(ledger) = LedgerDoc::open(id, automerge) {
            let _ = ledger.records();
        }
    }
});
