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
    /// A scale's answer not read: its protocol, unit or baud set wrong (bytes with no end, or
    /// a frame that does not parse), or noise on the line.
    #[error("{0}")]
    Scale(String),
    /// A device that gave no answer in time (off, unplugged, or another device on its port).
    #[error("{0}")]
    Silent(String),
    /// A printer that took what it was sent and did not say it read it: it may have printed.
    #[error("{0}")]
    Unconfirmed(String),
}

impl Error {
    /// Whether the device was not reached at all (its port, its cable, its power), rather
    /// than reached and misunderstood.
    pub fn is_unreached(&self) -> bool {
        matches!(
            self,
            Error::Io { .. } | Error::Serial { .. } | Error::Silent(_)
        )
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
