//! The app's error type. Bad input (exit code 2) is told apart from failures of the disk,
//! the database or the ledger (exit code 1).

use std::path::PathBuf;

use crate::domain::DomainError;

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
    /// The ledger and the tables disagree, or a record contradicts another.
    #[error("integrity: {0}")]
    Integrity(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// 2 for bad input, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Domain(_) | Error::Input(_) | Error::ReadInput { .. } => 2,
            _ => 1,
        }
    }

    pub fn input(msg: impl Into<String>) -> Error {
        Error::Input(msg.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
