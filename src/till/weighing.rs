//! Weighed goods sold at the scale's weight: what a reading must be for a sale to take it.

use std::time::Duration;

use fairpos_domain::{DomainError, ScaleIssue};
use fairpos_hardware::scale::{Reading, Scale, ScaleState};

use crate::error::{Error, Result};

/// How long the till waits for the scale to answer.
pub const SCALE_ANSWER: Duration = Duration::from_secs(2);

/// The grams a sale takes from `reading`: settled, within range, more than nothing.
pub fn sellable_grams(reading: &Reading) -> Result<i64, DomainError> {
    let issue = match &reading.state {
        ScaleState::Stable if reading.grams > 0 => return Ok(reading.grams),
        ScaleState::Stable => ScaleIssue::Empty,
        ScaleState::Motion => ScaleIssue::Motion,
        ScaleState::OverCapacity => ScaleIssue::OverCapacity,
        ScaleState::UnderZero => ScaleIssue::UnderZero,
        ScaleState::Fault(why) => ScaleIssue::Fault(why.clone()),
    };
    Err(DomainError::ScaleNotReady(issue))
}

/// Weighs on `scale` now, for a sale.
pub fn weigh_for_sale(scale: &mut dyn Scale) -> Result<i64> {
    let reading = scale
        .weigh(SCALE_ANSWER)
        .map_err(|e| Error::Other(e.to_string()))?;
    Ok(sellable_grams(&reading)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(grams: i64, state: ScaleState) -> Reading {
        Reading {
            grams,
            state,
            unit: "kg".into(),
        }
    }

    #[test]
    fn only_a_settled_weight_sells() {
        assert_eq!(sellable_grams(&reading(1250, ScaleState::Stable)), Ok(1250));
        for (r, issue) in [
            (reading(0, ScaleState::Stable), ScaleIssue::Empty),
            (reading(900, ScaleState::Motion), ScaleIssue::Motion),
            (
                reading(0, ScaleState::OverCapacity),
                ScaleIssue::OverCapacity,
            ),
            (reading(0, ScaleState::UnderZero), ScaleIssue::UnderZero),
        ] {
            assert_eq!(sellable_grams(&r), Err(DomainError::ScaleNotReady(issue)));
        }
    }
}
