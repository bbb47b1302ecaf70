//! The protocol between a till (or a hub) and headquarters: the HTTP routes, their JSON
//! bodies and the credentials a device presents. Wire types, frozen once tills are in the
//! field: add fields only as options. The sync of the documents themselves is samod's
//! (automerge-repo) protocol over the WebSocket at [`route::SYNC`].

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The routes headquarters serves and devices call.
pub mod route {
    /// WebSocket upgrade to a samod connection; credentials in the `token` query parameter.
    pub const SYNC: &str = "/sync";
    pub const ENROLL: &str = "/api/v1/enroll";
    pub const LOGIN: &str = "/api/v1/login";
    pub const ANNOUNCE: &str = "/api/v1/sync/announce";
    pub const CONFIRM: &str = "/api/v1/sync/confirm";
    pub const DOCS: &str = "/api/v1/docs";
    pub const REGISTRY: &str = "/api/v1/hub/registry";
    pub const HEALTH: &str = "/api/v1/health";
}

/// The token a device presents: `<device>.<secret>`.
pub fn device_token(device: &str, secret: &str) -> String {
    format!("{device}.{secret}")
}

/// The device and secret of a device token.
pub fn split_device_token(token: &str) -> Option<(&str, &str)> {
    token.split_once('.')
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub code: String,
    /// The Automerge actor id (hex) the device will write its ledgers with.
    pub actor: String,
    /// For a till enrolling again (`fairpos enroll --again`): who it already is. A code
    /// for another device, or headquarters of another fair, refuses it, the code unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub again: Option<EnrolledAs>,
    /// The public half (hex) of a signing key the device made for itself, for its bundles
    /// and shift slips: unlike one derived from the secret headquarters gives it, a fair hub
    /// that relays its sync (and so sees that secret) cannot sign in its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
    /// What the device enrols as, [`ROLE_TILL`] or [`ROLE_HUB`]: a code for the other is
    /// refused, still unused. An older device sends none, and learns the role from the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// How long after an enrolment code's first use the device that used it may use it again,
/// with the same actor and signing key (its first attempt never heard back). After it, a
/// code is only a slip of paper: whoever held it and the till's actor (which every ledger
/// change carries) would take the till's place.
pub const ENROL_RETRY_WINDOW: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The role of a device that sells.
pub const ROLE_TILL: &str = "till";
/// The role of a fair hub, relaying tills' sync to headquarters.
pub const ROLE_HUB: &str = "hub";

/// The fair and device a till enrolling again already is.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnrolledAs {
    /// The fair's id.
    pub fair: String,
    pub device: String,
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
    /// The request's `signing_key`, when headquarters keeps it as the device's (an older
    /// headquarters says nothing: the device then signs with the key its secret derives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
}

impl EnrollResponse {
    /// The catalog document's `bytes` as [`EnrollResponse::catalog`] carries them.
    pub fn encode_catalog(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// The catalog document's bytes.
    pub fn catalog_bytes(&self) -> Result<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.catalog)
            .map_err(|e| Error::Codec(format!("the catalog from headquarters: {e}")))
    }

    /// Whether the secret and device code granted are of the form headquarters makes: a
    /// secret with a line break in it would fail every later call, and the device code
    /// names the device's ledgers and bundles.
    pub fn secret_and_device_are_ones(&self) -> bool {
        let secret = &self.secret;
        let secret_is_one =
            (32..=128).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_alphanumeric());
        secret_is_one && fairpos_domain::DeviceCode::parse(&self.device).is_ok()
    }

    /// Whether this grant is for the device and fair `again` names: a headquarters from
    /// before [`EnrollRequest::again`] grants whatever device its code is for.
    pub fn grants(&self, again: &EnrolledAs) -> Result<bool> {
        let fair = fairpos_domain::fair::Fair::from_toml(&self.fair_toml)
            .map_err(|e| Error::Codec(format!("the fair from headquarters: {e}")))?;
        Ok(self.device == again.device && fair.id == again.fair)
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

/// The start of the reason a ledger is refused for its size.
pub const OVERSIZED: &str = "over the size limit";

/// Why `device`'s ledger `doc`, taking `bytes` in storage, is over `max_bytes`, if it is:
/// what headquarters stores and logs, on either backend.
pub fn over_size(doc: &str, device: &str, bytes: u64, max_bytes: u64) -> Option<String> {
    (bytes > max_bytes).then(|| {
        format!(
            "{OVERSIZED}: {device}'s ledger {doc} takes {} KiB, the limit is {} KiB \
             (--max-document); nothing more of it is taken",
            bytes >> 10,
            max_bytes >> 10
        )
    })
}

impl ConfirmResponse {
    /// Which of `wanted` headquarters has not yet projected to the heads wanted (keys), or
    /// the first it refuses: `Err((key, why))`.
    pub fn missing<'w>(
        &self,
        wanted: &'w [WantedDoc],
    ) -> std::result::Result<Vec<&'w str>, (String, String)> {
        let held: std::collections::HashMap<&str, &ConfirmedDoc> =
            self.docs.iter().map(|d| (d.key.as_str(), d)).collect();
        let mut missing = Vec::new();
        for want in wanted {
            match held.get(want.key.as_str()) {
                Some(ConfirmedDoc {
                    refused: Some(why), ..
                }) => return Err((want.key.clone(), crate::answer::told(why))),
                Some(d) if d.heads == want.heads => {}
                // More than the pass holds: a later pass of the same till pushed on (two
                // passes overlap; the ledger grows only by its till's appends).
                Some(d) if want.records.is_some_and(|r| d.records > r) => {}
                _ => missing.push(want.key.as_str()),
            }
        }
        Ok(missing)
    }
}

/// A ledger and the heads a till waits for headquarters to project.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WantedDoc {
    pub key: String,
    /// Sorted hex, comma-separated, as [`ConfirmedDoc::heads`].
    pub heads: String,
    /// The records the till holds at those heads: headquarters holding more of the ledger
    /// holds these (a pass that overlapped a later one waited out its time for heads
    /// headquarters had moved past). None from a till before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<i64>,
}

/// A till waiting for headquarters to project its ledgers (`POST` to [`route::CONFIRM`]):
/// headquarters answers, as `GET` does, once every ledger named is projected to the heads
/// named or refused, or when `wait_ms` (at most ten seconds) have passed. Headquarters
/// older than this answers 405; the till then asks with `GET` every 100 ms.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConfirmRequest {
    pub docs: Vec<WantedDoc>,
    pub wait_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The account; the first organizer account when not given.
    #[serde(default)]
    pub name: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_is_for_the_device_and_fair_enrolling_again_or_not() {
        let fair = fairpos_domain::fair::Fair::from_toml(fairpos_domain::demo::FAIR_TOML)
            .unwrap()
            .id;
        let grant = |device: &str| EnrollResponse {
            device: device.into(),
            stall: "S02".into(),
            role: "till".into(),
            secret: "s".into(),
            fair_toml: fairpos_domain::demo::FAIR_TOML.into(),
            catalog_key: "k".into(),
            catalog: String::new(),
            signing_key: None,
        };
        let again = |fair: &str| EnrolledAs {
            fair: fair.into(),
            device: "T02".into(),
        };
        assert!(grant("T02").grants(&again(&fair)).unwrap());
        // What a headquarters that ignores `again` may grant.
        assert!(!grant("T03").grants(&again(&fair)).unwrap());
        assert!(!grant("T02").grants(&again("another-fair")).unwrap());
        let mut torn = grant("T02");
        torn.fair_toml = "name = ".into();
        assert!(torn.grants(&again(&fair)).is_err());
    }

    #[test]
    fn a_ledger_held_past_the_heads_wanted_is_confirmed_by_its_records() {
        let held = |heads: &str, records: i64| ConfirmResponse {
            docs: vec![ConfirmedDoc {
                key: "ledger/f/T01/2026-11-22".into(),
                heads: heads.into(),
                records,
                refused: None,
            }],
        };
        let wanted = |records: Option<i64>| {
            vec![WantedDoc {
                key: "ledger/f/T01/2026-11-22".into(),
                heads: "aa".into(),
                records,
            }]
        };
        let none: Vec<&str> = Vec::new();
        assert_eq!(held("aa", 5).missing(&wanted(Some(5))).unwrap(), none);
        // A later pass pushed on: more records, other heads.
        assert_eq!(held("bb", 7).missing(&wanted(Some(5))).unwrap(), none);
        // As many records at other heads, or a till that does not say: not yet.
        let key = ["ledger/f/T01/2026-11-22"];
        assert_eq!(held("bb", 5).missing(&wanted(Some(5))).unwrap(), key);
        assert_eq!(held("bb", 7).missing(&wanted(None)).unwrap(), key);
        // Sent as before when not said, so that an older headquarters reads it.
        let json = serde_json::to_string(&wanted(None)[0]).unwrap();
        assert_eq!(json, r#"{"key":"ledger/f/T01/2026-11-22","heads":"aa"}"#);
    }
}
