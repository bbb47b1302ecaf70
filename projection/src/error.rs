//! The one error type of the projection crate.

use fairpos_domain::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule of the till that the input broke.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Input that names something that does not exist (a report dimension, a format).
    #[error("{0}")]
    Input(String),
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Ledger(#[from] fairpos_sync::Error),
    /// The ledger and the tables disagree, or a record contradicts another.
    #[error("integrity: {0}")]
    Integrity(String),
    /// A report could not be written (CSV, JSON, XLSX).
    #[error("{0}")]
    Output(String),
}

impl Error {
    pub fn input(msg: impl Into<String>) -> Error {
        Error::Input(msg.into())
    }

    /// Whether the input was at fault (exit code 2) rather than the machine.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Error::Domain(_) | Error::Input(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
