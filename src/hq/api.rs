//! What tills, hubs and organizers exchange with headquarters over HTTP (JSON). Wire types:
//! add fields only as options.

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub code: String,
    /// The Automerge actor id (hex) the device will write its ledgers with.
    pub actor: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub device: String,
    pub stall: String,
    /// `till` or `hub`.
    pub role: String,
    /// Shown once; headquarters keeps its hash.
    pub secret: String,
    pub fair_toml: String,
    pub catalog_key: String,
    /// The whole catalog document, base64.
    pub catalog: String,
}

impl EnrollResponse {
    /// The catalog document's bytes.
    pub fn catalog_bytes(&self) -> crate::error::Result<Vec<u8>> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&self.catalog)
            .map_err(|e| crate::error::Error::Other(format!("the catalog from headquarters: {e}")))
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AnnounceRequest {
    /// Ledger keys the device (or hub) is about to sync.
    pub docs: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AnnounceResponse {
    pub catalog_key: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConfirmedDoc {
    pub key: String,
    /// Heads headquarters has projected (sorted hex, comma-separated).
    pub heads: String,
    pub records: i64,
    /// Why headquarters refuses the document, if it does.
    pub refused: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConfirmResponse {
    pub docs: Vec<ConfirmedDoc>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LoginRequest {
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    /// The peer id a samod/automerge-repo client must use with this token.
    pub peer_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DocInfo {
    pub key: String,
    /// The automerge-repo document id.
    pub doc_id: String,
    pub device: Option<String>,
    pub records: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceEntry {
    pub device: String,
    pub stall: String,
    pub role: String,
    pub secret_hash: Option<String>,
    pub public_key: Option<String>,
    pub actor: Option<String>,
    pub revoked: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}
