//! The one error type of headquarters. Bad input (exit code 2) is told apart from failures
//! of the disk, the database or the ledger (exit code 1).

use std::path::PathBuf;

use fairpos_domain::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule of the fair that the input broke.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Input that names something that does not exist, or credentials that do not hold.
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
    Postgres(#[from] fairpos_postgres::Error),
    /// What headquarters holds contradicts itself.
    #[error("integrity: {0}")]
    Integrity(String),
    #[error("{0}")]
    Other(String),
    /// Too much of one kind of work at once (logins): answered "503, try again", saying so.
    #[error("{0}")]
    Busy(String),
    /// Ctrl-C at a prompt: the command ends without changing anything, as by SIGINT
    /// ([`crate::cli::end_interrupted`]).
    #[error("interrupted; nothing was changed")]
    Interrupted,
}

impl Error {
    pub fn input(msg: impl Into<String>) -> Error {
        Error::Input(msg.into())
    }

    /// Whether the input was at fault (exit code 2) rather than the machine.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Domain(_) | Error::Input(_) | Error::ReadInput { .. } => true,
            Error::Interrupted => true,
            Error::Ledger(e) => e.is_bad_input(),
            Error::Tables(e) => e.is_bad_input(),
            Error::Postgres(e) => e.is_bad_input(),
            _ => false,
        }
    }

    /// Whether the database was too busy to give a connection in time: a request may be
    /// answered "503, try again" rather than "500".
    pub fn is_busy(&self) -> bool {
        let locked =
            |e: &rusqlite::Error| e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy);
        match self {
            Error::Busy(_) => true,
            Error::Postgres(e) => e.is_busy(),
            // SQLite's writer held past the busy timeout (a backup's copy, another process).
            Error::Sql(e) | Error::Tables(fairpos_projection::Error::Sql(e)) => locked(e),
            _ => false,
        }
    }

    /// Whether a PostgreSQL database could not be reached.
    pub fn is_database_unreachable(&self) -> bool {
        matches!(self, Error::Postgres(e) if e.is_unreachable())
    }

    /// 2 for bad input, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        if self.is_bad_input() {
            2
        } else {
            1
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
