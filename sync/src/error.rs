//! The one error type of the sync crate.

/// Everything that can go wrong while reading or writing ledger documents.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ledger storage: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("ledger document {key}: {source}")]
    Automerge {
        key: String,
        #[source]
        source: Box<automerge::AutomergeError>,
    },
    #[error("ledger document {key} is not a fairpos ledger: {why}")]
    NotALedger { key: String, why: String },
    #[error("ledger record {id} in {key} cannot be read: {source}")]
    BadRecord {
        key: String,
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("ledger record cannot be written: {0}")]
    Encode(#[source] serde_json::Error),
}

impl Error {
    pub fn automerge(key: &str, source: automerge::AutomergeError) -> Error {
        Error::Automerge {
            key: key.to_string(),
            source: Box::new(source),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
