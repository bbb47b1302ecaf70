//! Keyboard-wedge scanners type a code as a burst of keys a millisecond or two apart and end
//! with Enter; people type tens of milliseconds apart. The detector sees each key with the
//! time it arrived (stamped by the caller: Slint key events carry no time) and says which is
//! which. Pure logic: no clock, no IO.

/// Settings of the detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WedgeConfig {
    /// Largest gap between keys of one scan.
    pub max_gap_ms: u64,
    /// Fewest characters a scan has (EAN-8 is the shortest code sold).
    pub min_len: usize,
}

impl Default for WedgeConfig {
    fn default() -> WedgeConfig {
        WedgeConfig {
            max_gap_ms: 25,
            min_len: 6,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WedgeEvent {
    /// A scanner's code.
    Scan(String),
    /// Keys a person typed (Enter included as `\n`), to be handled as typing.
    Typed(String),
}

#[derive(Clone, Debug, Default)]
pub struct BurstDetector {
    config: WedgeConfig,
    /// Keys of the current run, each with its arrival time in ms.
    run: Vec<(char, u64)>,
}

impl BurstDetector {
    pub fn new(config: WedgeConfig) -> BurstDetector {
        BurstDetector {
            config,
            run: Vec::new(),
        }
    }

    fn flush_typed(&mut self, out: &mut Vec<WedgeEvent>) {
        if !self.run.is_empty() {
            out.push(WedgeEvent::Typed(
                self.run.drain(..).map(|(c, _)| c).collect(),
            ));
        }
    }

    /// Feeds one key (`'\n'` or `'\r'` for Enter) that arrived at `at_ms`.
    pub fn key(&mut self, key: char, at_ms: u64) -> Vec<WedgeEvent> {
        let mut out = Vec::new();
        let gap_ok = self
            .run
            .last()
            .is_none_or(|&(_, t)| at_ms.saturating_sub(t) <= self.config.max_gap_ms);
        if !gap_ok {
            // A pause: what came before was typed, not scanned.
            self.flush_typed(&mut out);
        }
        if key == '\n' || key == '\r' {
            if self.run.len() >= self.config.min_len && gap_ok {
                out.push(WedgeEvent::Scan(
                    self.run.drain(..).map(|(c, _)| c).collect(),
                ));
            } else {
                self.run.push(('\n', at_ms));
                self.flush_typed(&mut out);
            }
        } else {
            self.run.push((key, at_ms));
        }
        out
    }

    /// Called when no key has come for a while: a run that has gone quiet was typed.
    pub fn idle(&mut self, now_ms: u64) -> Vec<WedgeEvent> {
        let mut out = Vec::new();
        if let Some(&(_, t)) = self.run.last() {
            if now_ms.saturating_sub(t) > self.config.max_gap_ms {
                self.flush_typed(&mut out);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(d: &mut BurstDetector, text: &str, start: u64, gap: u64) -> Vec<WedgeEvent> {
        let mut out = Vec::new();
        for (i, c) in text.chars().enumerate() {
            out.extend(d.key(c, start + i as u64 * gap));
        }
        out
    }

    #[test]
    fn a_fast_burst_ending_in_enter_is_a_scan() {
        let mut d = BurstDetector::new(WedgeConfig::default());
        assert_eq!(
            feed(&mut d, "6935780100128\n", 1000, 2),
            vec![WedgeEvent::Scan("6935780100128".into())]
        );
    }

    #[test]
    fn human_typing_is_not() {
        let mut d = BurstDetector::new(WedgeConfig::default());
        let events = feed(&mut d, "bjhjc\n", 1000, 80);
        let typed: String = events
            .iter()
            .map(|e| match e {
                WedgeEvent::Typed(t) => t.clone(),
                WedgeEvent::Scan(s) => panic!("typing taken for a scan: {s}"),
            })
            .collect();
        assert_eq!(typed, "bjhjc\n");
    }

    #[test]
    fn a_short_burst_and_a_slow_enter_are_typing() {
        let mut d = BurstDetector::new(WedgeConfig::default());
        assert_eq!(
            feed(&mut d, "12\n", 0, 2),
            vec![WedgeEvent::Typed("12\n".into())]
        );
        let mut events = feed(&mut d, "6935780100128", 100, 2);
        events.extend(d.key('\n', 100 + 13 * 2 + 300));
        assert_eq!(
            events,
            vec![
                WedgeEvent::Typed("6935780100128".into()),
                WedgeEvent::Typed("\n".into())
            ]
        );
    }

    #[test]
    fn a_quiet_run_is_flushed_as_typing() {
        let mut d = BurstDetector::new(WedgeConfig::default());
        assert!(feed(&mut d, "ab", 0, 1).is_empty());
        assert_eq!(d.idle(500), vec![WedgeEvent::Typed("ab".into())]);
    }
}
