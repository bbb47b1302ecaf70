//! Log lines that could come once per connection or request (a port scan's connections, a
//! refused scraper every few seconds), written at most once a minute for each kind of line.
//! Lines held back are told once their minute is over: the next line of the kind says how
//! many were held back since, or, when none comes, the log's own task writes the last one
//! held back with that count ([`QuietLog::told_when_due`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A line of one kind is not written again within this.
const QUIET: Duration = Duration::from_secs(60);
/// Beyond this many kinds remembered, those quiet again are forgotten.
const REMEMBERED: usize = 10_000;
/// How often the held-back lines whose minute is over are looked for.
const DUE_EVERY: Duration = Duration::from_secs(5);

/// Lines written at most once in [`QUIET`] for each kind.
#[derive(Default)]
pub struct QuietLog {
    written: Mutex<HashMap<String, Kind>>,
}

/// What is remembered of one kind of line.
struct Kind {
    /// When its line was last written.
    at: Instant,
    /// How many lines were held back since.
    held: u64,
    /// The latest of them.
    last: Option<String>,
}

impl QuietLog {
    /// A log whose held-back lines are told by a task of the current runtime once their
    /// minute is over, even when no line of their kind comes again. The task ends once the
    /// log is dropped.
    pub fn told_when_due() -> Arc<Self> {
        let log = Arc::new(QuietLog::default());
        let weak = Arc::downgrade(&log);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(DUE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(log) = weak.upgrade() else {
                    return;
                };
                for line in log.due(Instant::now()) {
                    eprintln!("{line}");
                }
            }
        });
        log
    }

    /// As [`QuietLog::told_when_due`] when called on a runtime (a request's handler);
    /// otherwise a log whose held-back lines are told with the next line of their kind.
    pub fn told_when_due_if_running() -> Arc<Self> {
        match tokio::runtime::Handle::try_current() {
            Ok(_) => QuietLog::told_when_due(),
            Err(_) => Arc::new(QuietLog::default()),
        }
    }

    /// Writes `line`, of the kind `kind`, to stderr unless one of its kind was lately.
    pub fn write(&self, kind: String, line: String) {
        if let Some(line) = self.line(kind, line, Instant::now()) {
            eprintln!("{line}");
        }
    }

    /// `line` to write now (saying how many like it were held back), or `None` when one of
    /// its kind was written lately: for a caller that writes it elsewhere too.
    pub fn admit(&self, kind: String, line: String) -> Option<String> {
        self.line(kind, line, Instant::now())
    }

    /// The line to write for `line` of the kind `kind` at `now`, if any.
    fn line(&self, kind: String, line: String, now: Instant) -> Option<String> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.len() > REMEMBERED {
            // Those with lines held back stay, to be told.
            written.retain(|_, kind| now.duration_since(kind.at) < QUIET || kind.last.is_some());
        }
        let Some(seen) = written.get_mut(&kind) else {
            let first = Kind {
                at: now,
                held: 0,
                last: None,
            };
            written.insert(kind, first);
            return Some(line);
        };
        if now.duration_since(seen.at) < QUIET {
            seen.held += 1;
            seen.last = Some(line);
            return None;
        }
        let since = std::mem::take(&mut seen.held);
        seen.last = None;
        seen.at = now;
        Some(with_count(line, since))
    }

    /// The lines due at `now`: for each kind whose minute is over with lines held back, the
    /// last of them, saying how many more there were. Such a kind's minute starts again
    /// (so it still writes at most a line a minute); kinds quiet for a minute are forgotten.
    fn due(&self, now: Instant) -> Vec<String> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let mut due = Vec::new();
        written.retain(|_, kind| {
            if now.duration_since(kind.at) < QUIET {
                return true;
            }
            let Some(last) = kind.last.take() else {
                return false;
            };
            due.push(with_count(last, kind.held - 1));
            kind.held = 0;
            kind.at = now;
            true
        });
        due
    }
}

/// `line`, saying how many more like it were held back since the last such line.
fn with_count(line: String, more: u64) -> String {
    match more {
        0 => line,
        n => format!("{line} (and {n} more like it held back since the last such line)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_written_once_a_minute_for_each_kind() {
        let log = QuietLog::default();
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let line = |n: u32| format!("connection from 192.0.2.1:{n} closed: no header");
        let kind = || "connection from 192.0.2.1 closed: no header".to_string();
        assert_eq!(log.line(kind(), line(5000), at(0)), Some(line(5000)));
        // The same kind, from another port and again: held back.
        assert_eq!(log.line(kind(), line(5001), at(1)), None);
        assert_eq!(log.line(kind(), line(5000), at(59)), None);
        // Another kind: written.
        let other = "TLS handshake with 192.0.2.1:5000 failed: eof".to_string();
        assert_eq!(
            log.line("tls 192.0.2.1".into(), other.clone(), at(3)),
            Some(other)
        );
        // A minute on: written, saying how many were held back.
        assert_eq!(
            log.line(kind(), line(5001), at(61)),
            Some(format!(
                "{} (and 2 more like it held back since the last such line)",
                line(5001)
            ))
        );
        assert_eq!(log.line(kind(), line(5000), at(122)), Some(line(5000)));
    }

    #[test]
    fn lines_held_back_are_told_once_their_minute_is_over() {
        let log = QuietLog::default();
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let scan = |port: u32| format!("connection from 192.0.2.9:{port} closed: no header");
        let kind = || "192.0.2.9 no header".to_string();
        assert_eq!(log.line(kind(), scan(1), at(0)), Some(scan(1)));
        for port in 2..=4 {
            assert_eq!(log.line(kind(), scan(port), at(port.into())), None);
        }
        // One held back of another kind, written at 10 s.
        let tls = || "TLS handshake with 192.0.2.7:9 failed: eof".to_string();
        assert_eq!(log.line("tls".into(), tls(), at(10)), Some(tls()));
        assert_eq!(log.line("tls".into(), tls(), at(11)), None);
        // Within the minute nothing is due; then the scan's last line, with its count.
        assert!(log.due(at(59)).is_empty());
        assert_eq!(
            log.due(at(60)),
            vec![format!(
                "{} (and 2 more like it held back since the last such line)",
                scan(4)
            )]
        );
        assert_eq!(log.due(at(70)), vec![tls()]);
        // Told once; still a line a minute: the next is held back again, then told.
        assert!(log.due(at(75)).is_empty());
        assert_eq!(log.line(kind(), scan(5), at(80)), None);
        assert!(log.due(at(119)).is_empty());
        assert_eq!(log.due(at(120)), vec![scan(5)]);
        // A kind quiet for a minute is forgotten, so its next line is written at once.
        assert!(log.due(at(181)).is_empty());
        assert!(log.written.lock().unwrap().is_empty());
        assert_eq!(log.line(kind(), scan(6), at(182)), Some(scan(6)));
    }
}
