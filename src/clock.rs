//! Where the till reads the time. The domain takes times as arguments; this is the one place
//! that asks the system, at the fair's UTC offset. `FAIRPOS_NOW` (RFC 3339) sets the clock,
//! for tests and for replaying a day.

use chrono::{DateTime, Utc};

use crate::till::{Till, Time};
use crate::{Error, Result};

/// How a controller reads the time: [`now`] in the field, a fixed moment in tests.
pub type Clock = Box<dyn Fn(&Till) -> Result<Time>>;

/// Now, at the till's fair's offset; `FAIRPOS_NOW` when set.
pub fn now(till: &Till) -> Result<Time> {
    let offset = till.store().identity().fair.utc_offset;
    match std::env::var("FAIRPOS_NOW") {
        Ok(text) => DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&offset))
            .map_err(|e| Error::input(format!("FAIRPOS_NOW {text:?}: {e}"))),
        Err(_) => Ok(Utc::now().with_timezone(&offset)),
    }
}

/// The clock of the field: [`now`].
pub fn system() -> Clock {
    Box::new(now)
}

/// Now in UTC, as headquarters and the sync log write it.
pub fn utc_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
