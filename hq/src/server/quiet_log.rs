//! Log lines that could come once per connection or request (a port scan's connections, a
//! refused scraper every few seconds), written at most once a minute for each kind of line;
//! the next line of a kind written says how many were held back since.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A line of one kind is not written again within this.
const QUIET: Duration = Duration::from_secs(60);
/// Beyond this many kinds remembered, those quiet again are forgotten.
const REMEMBERED: usize = 10_000;

/// Lines written at most once in [`QUIET`] for each kind.
#[derive(Default)]
pub struct QuietLog {
    /// For each kind: when its line was last written, and how many were held back since.
    written: Mutex<HashMap<String, (Instant, u64)>>,
}

impl QuietLog {
    /// Writes `line`, of the kind `kind`, to stderr unless one of its kind was lately.
    pub fn write(&self, kind: String, line: String) {
        if let Some(line) = self.line(kind, line, Instant::now()) {
            eprintln!("{line}");
        }
    }

    /// The line to write for `line` of the kind `kind` at `now`, if any.
    fn line(&self, kind: String, line: String, now: Instant) -> Option<String> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.len() > REMEMBERED {
            written.retain(|_, (at, _)| now.duration_since(*at) < QUIET);
        }
        let Some((at, held)) = written.get_mut(&kind) else {
            written.insert(kind, (now, 0));
            return Some(line);
        };
        if now.duration_since(*at) < QUIET {
            *held += 1;
            return None;
        }
        let since = std::mem::take(held);
        *at = now;
        Some(match since {
            0 => line,
            n => format!("{line} (and {n} more like it held back since the last such line)"),
        })
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
}
