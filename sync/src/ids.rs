//! Document ids that every replica computes alike: a document's samod id is derived from its
//! key (`ledger/<fair>/<device>/<day>`, `catalog/<fair>`), so a till and headquarters agree
//! on it without asking each other.

use samod::DocumentId;
use sha2::{Digest, Sha256};

/// The samod (automerge-repo) id of the document stored under `key`.
pub fn document_id(key: &str) -> DocumentId {
    let digest = Sha256::new()
        .chain_update(b"fairpos-document:")
        .chain_update(key.as_bytes())
        .finalize();
    // 16 bytes always make a valid id.
    DocumentId::try_from(digest[..16].to_vec()).expect("16 bytes make a document id")
}

/// The key of a fair's catalog document.
pub fn catalog_key(fair: &str) -> String {
    format!("catalog/{fair}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = document_id("ledger/f/T01/2026-11-22");
        assert_eq!(a, document_id("ledger/f/T01/2026-11-22"));
        assert_ne!(a, document_id("ledger/f/T02/2026-11-22"));
        // The form automerge-repo prints and parses.
        let text = a.to_string();
        assert_eq!(text.parse::<DocumentId>().unwrap(), a);
    }
}
