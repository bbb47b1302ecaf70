use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database address or the pool's settings.
    #[error("{0}")]
    Config(String),
    /// A connection could not be had from the pool (the server is down, refused the login,
    /// its certificate did not verify).
    #[error("cannot reach the database: {}", Cause(.0))]
    Pool(#[from] deadpool_postgres::PoolError),
    /// As [`Error::Pool`], for the first connection of a command or a server: the address
    /// is named (its password masked), as what to look at first.
    #[error("cannot reach the database at {address}: {}", Cause(.source))]
    Unreachable {
        address: String,
        source: deadpool_postgres::PoolError,
    },
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

impl Error {
    /// Whether the caller gave something wrong (the database's address or settings), rather
    /// than the database or a stored document failing.
    /// Text a request gave that PostgreSQL cannot hold ([`Error::is_unkeepable_text`]) is the
    /// caller's fault too: such a request was answered 500.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Error::Config(_)) || self.is_unkeepable_text()
    }

    /// Whether PostgreSQL refused text it cannot hold (a NUL byte, `%00` in a request's path
    /// or query; SQLSTATE 22021).
    pub fn is_unkeepable_text(&self) -> bool {
        matches!(self, Error::Postgres(e)
            if e.code() == Some(&tokio_postgres::error::SqlState::CHARACTER_NOT_IN_REPERTOIRE))
    }

    /// Whether the database could not be reached (or gave no connection in time).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Pool(_) | Error::Unreachable { .. })
    }

    /// Whether every connection of a pool that waits only so long ([`crate::connect_waiting`])
    /// stayed taken: the database is busy, and asking again later may work.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            Error::Pool(deadpool_postgres::PoolError::Timeout(
                deadpool_postgres::TimeoutType::Wait
            ))
        )
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// An error and, when it is another, the first cause in its chain: what happened ("invalid
/// peer certificate: UnknownIssuer") after what was being done ("error performing TLS
/// handshake"). The driver's error is shown without the pool's words before it ("Error
/// occurred while creating a new object"), which say nothing to the reader.
struct Cause<'a>(&'a deadpool_postgres::PoolError);

impl fmt::Display for Cause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error: &(dyn std::error::Error + 'static) = match self.0 {
            deadpool_postgres::PoolError::Backend(driver) => driver,
            pool => pool,
        };
        let inner = fairpos_sync::tls::innermost(error);
        let outer = error.to_string();
        if outer.contains(&inner) {
            write!(f, "{outer}")
        } else {
            write!(f, "{outer}: {inner}")
        }
    }
}

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
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, Error::Postgres(e)
            if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION))
    }

    /// The unique index a row would have broken, and PostgreSQL's detail naming the key
    /// (`Key (id)=(…) already exists.`).
    pub(crate) fn unique_key(&self) -> Option<(&str, Option<&str>)> {
        let db = match self {
            Error::Postgres(e) if self.is_unique_violation() => e.as_db_error()?,
            _ => return None,
        };
        Some((db.constraint()?, db.detail()))
    }

    /// True for a value PostgreSQL will never take (SQLSTATE class 22, "data exception": a
    /// NUL character in text, a number out of range; class 54, "program limit exceeded": a
    /// text too long for an index's row; class 21, "cardinality violation": a roll-up row
    /// met twice, in a database whose sales hold an id twice): trying again cannot help. A
    /// till's string of a few kilobytes was tried again every minute, for ever, its ledger
    /// never refused.
    pub(crate) fn is_data_error(&self) -> bool {
        matches!(self, Error::Postgres(e)
            if e.code().is_some_and(|c| ["21", "22", "54"].iter().any(|class| c.code().starts_with(class))))
    }

    /// True for an error that is the ledger's, not the moment's: the projection refuses the
    /// ledger rather than try it again ([`Error::Integrity`], or a value PostgreSQL never
    /// takes).
    pub fn refuses_ledger(&self) -> bool {
        matches!(self, Error::Integrity(_)) || self.is_data_error()
    }

    /// True for a lock not granted within `lock_timeout` (a migration's).
    pub(crate) fn is_lock_timeout(&self) -> bool {
        matches!(self, Error::Postgres(e)
            if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE))
    }

    /// True for the errors after which PostgreSQL asks a client to run its transaction
    /// again: a serialization failure or a deadlock between two transactions.
    pub(crate) fn is_retryable(&self) -> bool {
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
