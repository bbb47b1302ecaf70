//! Keyboard-wedge scanners type a code as a burst of keys a millisecond or two apart and end
//! with Enter; people type tens of milliseconds apart. The detector sees each key with the
//! time it arrived (stamped by the caller: Slint key events carry no time) and says which is
//! which. Pure logic: no clock, no IO.

/// Settings of the detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WedgeConfig {
    /// Largest gap between keys of one scan.
    pub max_gap_ms: u64,
    /// The longest pause a scan under way (a few keys already a burst) may hold once: a
    /// wireless scanner's hiccup, or keys stamped late by a busy screen. A scan split there
    /// went in as typing up to the pause, and a scan of the rest.
    pub max_pause_ms: u64,
    /// Fewest characters a scan has (EAN-8 is the shortest code sold).
    pub min_len: usize,
}

impl Default for WedgeConfig {
    fn default() -> WedgeConfig {
        WedgeConfig {
            max_gap_ms: 25,
            max_pause_ms: 150,
            min_len: 6,
        }
    }
}

/// Keys of a burst before a pause is taken for a hiccup within it: a person types two keys
/// within 25 ms now and then, three in a row hardly.
const BURST_BEFORE_A_PAUSE: usize = 3;

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
    /// Whether the run has held its one pause.
    paused: bool,
}

impl BurstDetector {
    pub fn new(config: WedgeConfig) -> BurstDetector {
        BurstDetector {
            config,
            run: Vec::new(),
            paused: false,
        }
    }

    fn flush_typed(&mut self, out: &mut Vec<WedgeEvent>) {
        self.paused = false;
        if !self.run.is_empty() {
            out.push(WedgeEvent::Typed(
                self.run.drain(..).map(|(c, _)| c).collect(),
            ));
        }
    }

    /// Whether the run goes on after a gap of `gap` ms: a scanner's gap, or the one pause a
    /// burst may hold. Notes the pause taken.
    fn goes_on_after(&mut self, gap: u64) -> bool {
        let on = self.may_go_on(gap);
        self.paused |= on && gap > self.config.max_gap_ms;
        on
    }

    /// Whether a run that has had no key for `gap` ms may still go on.
    fn may_go_on(&self, gap: u64) -> bool {
        gap <= self.config.max_gap_ms
            || (self.run.len() >= BURST_BEFORE_A_PAUSE
                && !self.paused
                && gap <= self.config.max_pause_ms)
    }

    /// Feeds one key (`'\n'` or `'\r'` for Enter) that arrived at `at_ms`.
    pub fn key(&mut self, key: char, at_ms: u64) -> Vec<WedgeEvent> {
        let mut out = Vec::new();
        let gap = self.run.last().map(|&(_, t)| at_ms.saturating_sub(t));
        let gap_ok = gap.is_none_or(|gap| self.goes_on_after(gap));
        if !gap_ok {
            // A pause: what came before was typed, not scanned.
            self.flush_typed(&mut out);
        }
        if key == '\n' || key == '\r' {
            if self.run.len() >= self.config.min_len && gap_ok {
                self.paused = false;
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

    /// Called when no key has come for a while: a run that has gone quiet was typed (a
    /// burst may still be in its one pause: it is kept until that is over).
    pub fn idle(&mut self, now_ms: u64) -> Vec<WedgeEvent> {
        let mut out = Vec::new();
        if let Some(&(_, t)) = self.run.last() {
            if !self.may_go_on(now_ms.saturating_sub(t)) {
                self.flush_typed(&mut out);
            }
        }
        out
    }

    /// Whether keys are held, waiting to be told a scan or typing: [`BurstDetector::idle`]
    /// is to be called again.
    pub fn holding(&self) -> bool {
        !self.run.is_empty()
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
        assert!(!d.holding());
    }

    #[test]
    fn a_scan_with_one_hiccup_is_one_scan() {
        let mut d = BurstDetector::new(WedgeConfig::default());
        // 60 ms after 69357: a wireless scanner's hiccup, or a busy screen.
        let mut events = feed(&mut d, "69357", 0, 2);
        assert!(d.idle(50).is_empty(), "a burst in its pause is kept");
        assert!(d.holding());
        events.extend(feed(&mut d, "80100128\n", 68, 2));
        assert_eq!(events, vec![WedgeEvent::Scan("6935780100128".into())]);
        // And a hiccup just before Enter.
        let mut events = feed(&mut d, "6935780100128", 1000, 2);
        events.extend(d.key('\n', 1000 + 12 * 2 + 100));
        assert_eq!(events, vec![WedgeEvent::Scan("6935780100128".into())]);
    }

    #[test]
    fn only_one_pause_and_only_after_a_burst() {
        let mut d = BurstDetector::new(WedgeConfig::default());
        // Two keys, then 60 ms: a person, whose keys are typed.
        let mut events = feed(&mut d, "bj", 0, 20);
        events.extend(d.key('h', 80));
        assert_eq!(events, vec![WedgeEvent::Typed("bj".into())]);
        assert_eq!(d.idle(200), vec![WedgeEvent::Typed("h".into())]);
        // A burst's second pause ends it as typing.
        let mut events = feed(&mut d, "6935", 1000, 2);
        events.extend(feed(&mut d, "780", 1066, 2));
        events.extend(feed(&mut d, "100128\n", 1130, 2));
        assert_eq!(
            events,
            vec![
                WedgeEvent::Typed("6935780".into()),
                WedgeEvent::Scan("100128".into())
            ]
        );
        // A pause longer than 150 ms ends it too; idle says so once it is over.
        assert!(feed(&mut d, "6935", 2000, 2).is_empty());
        assert!(d.idle(2100).is_empty());
        assert_eq!(d.idle(2160), vec![WedgeEvent::Typed("6935".into())]);
    }
}
