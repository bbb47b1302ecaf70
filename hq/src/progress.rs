//! Long work's progress, told to an operator as it goes (a backup, a restore, documents
//! copied to PostgreSQL or projected there): nothing of work done within two seconds, then
//! a line a second ([`Pace::OPERATOR`]).

use std::time::{Duration, Instant};

/// When progress is told: first once the work has taken `after`, then every `every`.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub after: Duration,
    pub every: Duration,
}

impl Pace {
    /// As an operator is told: nothing within two seconds, then a line a second.
    pub const OPERATOR: Pace = Pace {
        after: Duration::from_secs(2),
        every: Duration::from_secs(1),
    };

    /// Every line at once: for tests.
    #[cfg(test)]
    pub const ALWAYS: Pace = Pace {
        after: Duration::ZERO,
        every: Duration::ZERO,
    };
}

/// When the next line of progress is due.
#[derive(Debug)]
pub struct Due {
    pace: Pace,
    next: Instant,
    told: bool,
}

impl Due {
    /// For work that starts now.
    pub fn new(pace: Pace) -> Due {
        Due {
            pace,
            next: Instant::now() + pace.after,
            told: false,
        }
    }

    /// Whether a line is due now; if so, it is taken, and the next is a pace away.
    pub fn take(&mut self) -> bool {
        if Instant::now() < self.next {
            return false;
        }
        self.told = true;
        self.next = Instant::now() + self.pace.every;
        true
    }

    /// Whether a line was taken yet: the work has been told of.
    pub fn taken_any(&self) -> bool {
        self.told
    }
}

/// `tell(done, of)` when a line is due as `pace` says, and once more when the work is done
/// if any line was: the operator sees it end. For work counted in documents or chunks.
pub fn paced(pace: Pace, mut tell: impl FnMut(usize, usize)) -> impl FnMut(usize, usize) {
    let mut due = Due::new(pace);
    move |done, of| {
        if due.take() || (done == of && due.taken_any()) {
            tell(done, of)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_due_before_the_pace_says_and_everything_after_with_no_pace() {
        let hour = Duration::from_secs(3600);
        let mut later = Due::new(Pace {
            after: hour,
            every: hour,
        });
        assert!(!later.take() && !later.taken_any());
        let mut always = Due::new(Pace::ALWAYS);
        assert!(always.take() && always.take() && always.taken_any());
    }

    #[test]
    fn paced_work_is_told_when_due_and_at_its_end_only_when_told_before() {
        let mut told = Vec::new();
        let hour = Duration::from_secs(3600);
        let later = Pace {
            after: hour,
            every: hour,
        };
        let mut quiet = paced(later, |done, of| told.push((done, of)));
        (1..=3).for_each(|done| quiet(done, 3));
        drop(quiet);
        assert!(told.is_empty(), "work done within the first hour: {told:?}");
        // Due at once, then not for an hour: the first step, then the end.
        let once = Pace {
            after: Duration::ZERO,
            every: hour,
        };
        let mut ends = paced(once, |done, of| told.push((done, of)));
        (1..=3).for_each(|done| ends(done, 3));
        drop(ends);
        assert_eq!(told, [(1, 3), (3, 3)]);
    }
}
