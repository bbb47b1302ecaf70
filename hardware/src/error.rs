//! The one error type of the hardware crate.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Serial {
        what: String,
        #[source]
        source: serialport::Error,
    },
    #[error("hardware configuration: {0}")]
    Config(String),
    #[error("receipt: {0}")]
    Receipt(String),
    #[error("{0}")]
    Scale(String),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
