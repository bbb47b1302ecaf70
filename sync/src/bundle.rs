//! A bundle: documents carried on a USB stick from a till or hub to headquarters. It names its
//! fair and its source, carries each document whole, and is signed with the source's key.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::keys;

pub const FORMAT: &str = "fairpos-bundle/1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub format: String,
    pub fair: String,
    /// Device code of the till or hub that wrote it.
    pub source: String,
    pub created_at: String,
    pub docs: Vec<BundleDoc>,
    /// Ed25519 signature (hex) of the bundle with this field empty.
    pub signature: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleDoc {
    /// `ledger/<fair>/<device>/<day>` or `catalog/<fair>`.
    pub key: String,
    /// The whole document (`Automerge::save`), base64.
    pub data: String,
}

impl BundleDoc {
    pub fn new(key: String, bytes: &[u8]) -> BundleDoc {
        BundleDoc {
            key,
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    pub fn bytes(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .ok()
    }
}

/// A bundle as it is signed: its fields in order, the signature empty. Borrowed, so that
/// checking a large bundle's signature copies none of its documents.
#[derive(Serialize)]
struct Unsigned<'b> {
    format: &'b str,
    fair: &'b str,
    source: &'b str,
    created_at: &'b str,
    docs: &'b [BundleDoc],
    signature: &'b str,
}

impl Bundle {
    fn signed_bytes(&self) -> Vec<u8> {
        // Every field named: one added to `Bundle` and not here does not build.
        let Bundle {
            format,
            fair,
            source,
            created_at,
            docs,
            signature: _,
        } = self;
        let unsigned = Unsigned {
            format,
            fair,
            source,
            created_at,
            docs,
            signature: "",
        };
        serde_json::to_vec(&unsigned).unwrap_or_default()
    }

    /// Signs with the source's secret.
    pub fn sign(&mut self, secret: &str) {
        self.signature = keys::sign(secret, &self.signed_bytes());
    }

    /// Whether the holder of `public_key` signed this bundle as it is.
    pub fn verify(&self, public_key: &str) -> bool {
        keys::verify(public_key, &self.signed_bytes(), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_edit_breaks_the_signature() {
        let secret = keys::new_secret();
        let mut b = Bundle {
            format: FORMAT.into(),
            fair: "f".into(),
            source: "T01".into(),
            created_at: "2026-11-22T18:00:00+08:00".into(),
            docs: vec![BundleDoc::new("ledger/f/T01/2026-11-22".into(), b"doc")],
            signature: String::new(),
        };
        b.sign(&secret);
        assert!(b.verify(&keys::public_key(&secret)));
        let mut forged = b.clone();
        forged.docs[0] = BundleDoc::new("ledger/f/T01/2026-11-22".into(), b"dox");
        assert!(!forged.verify(&keys::public_key(&secret)));
        assert_eq!(b.docs[0].bytes().unwrap(), b"doc");
        // Signed as the whole bundle serialized with its signature empty, as always.
        let mut unsigned = b.clone();
        unsigned.signature.clear();
        assert_eq!(b.signed_bytes(), serde_json::to_vec(&unsigned).unwrap());
    }
}
