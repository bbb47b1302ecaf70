use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database address or the pool's settings.
    #[error("{0}")]
    Config(String),
    /// A connection could not be had from the pool (the server is down, refused the login).
    #[error("cannot reach the database: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database: {}", Detailed(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// A stored document that does not read as a ledger.
    #[error("ledger document: {0}")]
    Ledger(String),
    /// A ledger that contradicts what is projected (a sequence number reused), or a
    /// document that is not the ledger its id says.
    #[error("{0}")]
    Integrity(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A PostgreSQL error with the server's message, which tokio-postgres's `Display` leaves out
/// ("db error" alone).
struct Detailed<'a>(&'a tokio_postgres::Error);

impl fmt::Display for Detailed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_db_error() {
            Some(db) => write!(f, "{} ({})", db.message(), db.code().code()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Error {
    /// True for a row that would break a unique key: data that contradicts itself.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Error::Postgres(e)
            if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION))
    }

    /// True for the errors after which PostgreSQL asks a client to run its transaction
    /// again: a serialization failure or a deadlock between two transactions.
    pub fn is_retryable(&self) -> bool {
        use tokio_postgres::error::SqlState;
        match self {
            Error::Postgres(e) => matches!(
                e.code(),
                Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED
            ),
            _ => false,
        }
    }
}
