//! The one error type of the sync crate.

/// Everything that can go wrong while reading or writing ledger and catalog documents.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ledger storage: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("document {key}: {source}")]
    Automerge {
        key: String,
        #[source]
        source: Box<automerge::AutomergeError>,
    },
    /// A ledger or catalog document that is not as fairpos writes one (its key says which).
    #[error("document {key} is not one fairpos writes: {why}")]
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
    /// A catalog entry or a wire message that does not have the shape it must.
    #[error("{0}")]
    Codec(String),
    #[error("bad headquarters URL {url}: {why}")]
    BadUrl { url: String, why: String },
    /// The fair's CA given at enrolment cannot be used.
    #[error("the fair's CA file: {0}")]
    BadCa(String),
    /// TLS with headquarters failed: a certificate that does not verify, above all.
    #[error("headquarters at {url}: {why}")]
    Tls { url: String, why: String },
    #[error("headquarters unreachable at {url}: {why}")]
    Unreachable { url: String, why: String },
    /// Headquarters turned the credentials or the request down (401, 403).
    #[error("headquarters refused: {0}")]
    Refused(String),
    /// Any other error answer; `retry_after` is how long it asked to be left alone.
    #[error("headquarters answered {status}: {why}")]
    Answered {
        status: String,
        why: String,
        retry_after: Option<std::time::Duration>,
    },
    #[error("{url}: unexpected answer: {why}")]
    Unexpected { url: String, why: String },
    #[error("headquarters did not {what} within {secs} s")]
    Timeout { what: String, secs: u64 },
    #[error("samod: {0}")]
    Samod(String),
}

impl Error {
    /// Whether retrying cannot mend it: the input itself is wrong.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Error::BadUrl { .. } | Error::BadCa(_))
    }

    /// How long headquarters asked to be left alone before the next try (`Retry-After`).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::Answered { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn unreachable(url: &str, why: impl std::fmt::Display) -> Error {
        Error::Unreachable {
            url: url.to_string(),
            why: why.to_string(),
        }
    }

    /// A failed request to `url`: a TLS failure said as such, anything else unreachable.
    pub fn network(url: &str, e: &(dyn std::error::Error + 'static)) -> Error {
        match crate::tls::failure(e) {
            Some(why) => Error::Tls {
                url: url.to_string(),
                why,
            },
            None => Error::unreachable(url, crate::tls::innermost(e)),
        }
    }

    pub fn automerge(key: &str, source: automerge::AutomergeError) -> Error {
        Error::Automerge {
            key: key.to_string(),
            source: Box::new(source),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
