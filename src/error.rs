//! The app's error type. Bad input (exit code 2) is told apart from failures of the disk,
//! the database or the ledger (exit code 1).

use std::path::PathBuf;

use fairpos_domain::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule of the till that the input broke.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Input that names something that does not exist, or a command that does not fit the
    /// till's state.
    #[error("{0}")]
    Input(String),
    #[error("cannot read {path}: {source}")]
    ReadInput {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Ledger(#[from] fairpos_sync::Error),
    #[error(transparent)]
    Tables(#[from] fairpos_projection::Error),
    #[error(transparent)]
    Hq(#[from] fairpos_hq::Error),
    /// The ledger and the tables disagree, or a record contradicts another.
    #[error("integrity: {0}")]
    Integrity(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Whether the input was at fault rather than the machine: retrying cannot mend it.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Domain(_) | Error::Input(_) | Error::ReadInput { .. } => true,
            Error::Ledger(e) => e.is_bad_input(),
            Error::Tables(e) => e.is_bad_input(),
            Error::Hq(e) => e.is_bad_input(),
            _ => false,
        }
    }

    /// How long headquarters asked to be left alone before the next sync (`Retry-After`).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::Ledger(e) => e.retry_after(),
            _ => None,
        }
    }

    /// Whether the command was interrupted (Ctrl-C at a prompt): it ends as by SIGINT
    /// ([`fairpos_hq::cli::end_interrupted`]).
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Hq(fairpos_hq::Error::Interrupted))
    }

    /// The rule of the domain broken, when that is what went wrong.
    pub fn domain(&self) -> Option<&DomainError> {
        match self {
            Error::Domain(e) => Some(e),
            Error::Tables(fairpos_projection::Error::Domain(e)) => Some(e),
            Error::Hq(fairpos_hq::Error::Domain(e)) => Some(e),
            _ => None,
        }
    }

    /// 2 for bad input, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        if self.is_bad_input() {
            2
        } else {
            1
        }
    }

    pub fn input(msg: impl Into<String>) -> Error {
        Error::Input(msg.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
