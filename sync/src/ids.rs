//! Document ids that every replica computes alike: a document's samod id is derived from its
//! key (`ledger/<fair>/<device>/<day>`, `catalog/<fair>`), so a till and headquarters agree
//! on it without asking each other.

use samod::DocumentId;
use sha2::{Digest, Sha256};

/// The samod (automerge-repo) id of the document stored under `key`: 16 bytes of a hash of
/// the key, shaped as a version-4 UUID (version and variant bits set), because automerge-repo
/// 1.x refuses document ids that are not valid UUIDs.
pub fn document_id(key: &str) -> DocumentId {
    let digest = Sha256::new()
        .chain_update(b"fairpos-document:")
        .chain_update(key.as_bytes())
        .finalize();
    let mut bytes = digest[..16].to_vec();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    // 16 bytes always make a valid id.
    DocumentId::try_from(bytes).expect("16 bytes make a document id")
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
        // A valid version-4 UUID underneath.
        let uuid = uuid::Uuid::from_slice(a.as_bytes()).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
    }
}
