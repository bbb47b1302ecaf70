//! Matching what a till recorded against what a statement says arrived: one to one, within
//! a stall, the same provider, the same way and the same amount to the fen, the times within
//! a window, nearest first, then as many more pairs as the window allows.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};

use super::{Flow, Provider};
use crate::money::Fen;

/// What a match is made on. Both sides reduce to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movement {
    pub stall: String,
    pub provider: Provider,
    pub flow: Flow,
    pub amount: Fen,
    /// Beijing time.
    pub at: NaiveDateTime,
}

/// Indices into the two lists given to [`match_up`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matching {
    /// `(recorded, stated)` pairs.
    pub matched: Vec<(usize, usize)>,
    /// Recorded at the till, not in any statement: paid on paper only.
    pub recorded_only: Vec<usize>,
    /// In a statement, recorded at no till.
    pub stated_only: Vec<usize>,
}

type Key = (String, Provider, Flow, Fen);

fn key(m: &Movement) -> Key {
    (m.stall.clone(), m.provider, m.flow, m.amount)
}

/// Pairs `recorded` with `stated`: within each stall, provider, flow and amount, every pair
/// whose times lie within `window` is a candidate; candidates are taken nearest in time first
/// (ties: earlier recorded, then earlier stated), each movement at most once; then as many
/// more pairs as the candidates allow, each movement left over re-pairing the ones already
/// paired where that frees a line for it (an augmenting path). Nearest first alone left
/// pairs undone: a till whose clock runs 8 minutes fast, its ¥10 payments at 10:00 and
/// 10:06 and the statement's at 09:52 and 09:58, paired 10:00 with 09:58 and listed the
/// other two as paid on paper only and as recorded nowhere.
pub fn match_up(recorded: &[Movement], stated: &[Movement], window: Duration) -> Matching {
    let mut groups: BTreeMap<Key, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for (i, m) in recorded.iter().enumerate() {
        groups.entry(key(m)).or_default().0.push(i);
    }
    for (j, m) in stated.iter().enumerate() {
        groups.entry(key(m)).or_default().1.push(j);
    }
    let mut pairs = Pairs {
        of_recorded: vec![None; recorded.len()],
        of_stated: vec![None; stated.len()],
        candidates: vec![Vec::new(); recorded.len()],
        tried_in: vec![0; stated.len()],
        search: 0,
    };
    for (mut rs, mut ss) in groups.into_values() {
        rs.sort_by_key(|&i| (recorded[i].at, i));
        ss.sort_by_key(|&j| (stated[j].at, j));
        // Candidates within the window: a sliding start over the stated side, sorted by time.
        let mut candidates: Vec<(Duration, NaiveDateTime, NaiveDateTime, usize, usize)> =
            Vec::new();
        let mut start = 0;
        for &i in &rs {
            let t = recorded[i].at;
            while start < ss.len() && stated[ss[start]].at < t - window {
                start += 1;
            }
            for &j in ss[start..]
                .iter()
                .take_while(|&&j| stated[j].at <= t + window)
            {
                let apart = (stated[j].at - t).abs();
                candidates.push((apart, t, stated[j].at, i, j));
            }
        }
        candidates.sort();
        for &(_, _, _, i, j) in &candidates {
            pairs.candidates[i].push(j);
            if pairs.of_recorded[i].is_none() && pairs.of_stated[j].is_none() {
                pairs.of_recorded[i] = Some(j);
                pairs.of_stated[j] = Some(i);
            }
        }
        for &i in &rs {
            if pairs.of_recorded[i].is_none() && !pairs.candidates[i].is_empty() {
                pairs.augment(i);
            }
        }
    }
    let mut out = Matching::default();
    for (i, j) in pairs.of_recorded.iter().enumerate() {
        match j {
            Some(j) => out.matched.push((i, *j)),
            None => out.recorded_only.push(i),
        }
    }
    out.stated_only = (0..stated.len())
        .filter(|&j| pairs.of_stated[j].is_none())
        .collect();
    out
}

/// The pairs made so far, and each recorded movement's candidates, nearest first.
struct Pairs {
    of_recorded: Vec<Option<usize>>,
    of_stated: Vec<Option<usize>>,
    candidates: Vec<Vec<usize>>,
    /// The search that last went through each stated movement (0: none), so that no search
    /// clears a list of them all.
    tried_in: Vec<u32>,
    search: u32,
}

impl Pairs {
    /// Pairs the recorded movement `i` if a path of re-pairings frees a stated one for it
    /// (every movement paired before stays paired): a depth-first search, on a stack of its
    /// own (a busy stall's chain of re-pairings can be thousands long).
    fn augment(&mut self, i: usize) -> bool {
        self.search += 1;
        // Each recorded movement on the path, and how many of its candidates it has tried.
        let mut path: Vec<(usize, usize)> = vec![(i, 0)];
        while let Some(&mut (at, ref mut next)) = path.last_mut() {
            let Some(&j) = self.candidates[at].get(*next) else {
                path.pop();
                continue;
            };
            *next += 1;
            if self.tried_in[j] == self.search {
                continue;
            }
            self.tried_in[j] = self.search;
            match self.of_stated[j] {
                Some(other) => path.push((other, 0)),
                None => {
                    // Free: each movement on the path takes the line it reached, the last
                    // this one, each before it the line the next one gave up.
                    let mut line = j;
                    while let Some((r, _)) = path.pop() {
                        let given_up = self.of_recorded[r];
                        self.of_recorded[r] = Some(line);
                        self.of_stated[line] = Some(r);
                        match given_up {
                            Some(l) => line = l,
                            None => break,
                        }
                    }
                    return true;
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hms: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(&format!("2026-11-28 {hms}"), "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn m(stall: &str, provider: Provider, flow: Flow, fen: i64, hms: &str) -> Movement {
        Movement {
            stall: stall.into(),
            provider,
            flow,
            amount: Fen(fen),
            at: at(hms),
        }
    }

    use Flow::{Payment, Refund};
    use Provider::{Alipay, Wechat};

    #[test]
    fn nearest_first_one_to_one() {
        // Two ¥18.80 sales a minute apart; the statement's lines arrive 20 s after each.
        let recorded = [
            m("S01", Wechat, Payment, 1880, "10:00:00"),
            m("S01", Wechat, Payment, 1880, "10:01:00"),
        ];
        let stated = [
            m("S01", Wechat, Payment, 1880, "10:01:20"),
            m("S01", Wechat, Payment, 1880, "10:00:20"),
        ];
        let r = match_up(&recorded, &stated, Duration::minutes(10));
        assert_eq!(r.matched, vec![(0, 1), (1, 0)]);
        assert!(r.recorded_only.is_empty() && r.stated_only.is_empty());
    }

    #[test]
    fn amount_stall_provider_flow_and_window_all_count() {
        let recorded = [
            m("S01", Wechat, Payment, 1880, "10:00:00"),
            m("S01", Alipay, Payment, 1880, "10:00:00"),
            m("S02", Wechat, Payment, 1880, "10:00:00"),
            m("S01", Wechat, Refund, 1880, "10:30:00"),
            m("S01", Wechat, Payment, 990, "12:00:00"),
        ];
        let stated = [
            m("S01", Wechat, Payment, 1881, "10:00:00"),
            m("S01", Wechat, Payment, 1880, "10:00:05"),
            m("S01", Wechat, Refund, 1880, "10:30:30"),
            m("S01", Wechat, Payment, 990, "12:10:01"),
        ];
        let r = match_up(&recorded, &stated, Duration::minutes(10));
        assert_eq!(r.matched, vec![(0, 1), (3, 2)]);
        assert_eq!(r.recorded_only, vec![1, 2, 4]);
        assert_eq!(r.stated_only, vec![0, 3]);
    }

    #[test]
    fn as_many_pairs_as_the_window_allows_not_only_the_nearest() {
        // A till 8 minutes fast: its ¥10 payments at 10:00 and 10:06, the statement's at
        // 09:58 and 09:52. Nearest first pairs 10:00 with 09:58 and leaves both others.
        let recorded = [
            m("S01", Wechat, Payment, 1000, "10:00:00"),
            m("S01", Wechat, Payment, 1000, "10:06:00"),
        ];
        let stated = [
            m("S01", Wechat, Payment, 1000, "09:58:00"),
            m("S01", Wechat, Payment, 1000, "09:52:00"),
        ];
        let r = match_up(&recorded, &stated, Duration::minutes(10));
        assert_eq!(r.matched, vec![(0, 1), (1, 0)]);
        assert!(r.recorded_only.is_empty() && r.stated_only.is_empty());
        // A longer chain: each of three re-paired to free a line for the fourth.
        let recorded: Vec<Movement> = ["10:00:00", "10:09:00", "10:18:00", "10:27:00"]
            .iter()
            .map(|t| m("S01", Wechat, Payment, 1000, t))
            .collect();
        let stated: Vec<Movement> = ["09:55:00", "10:04:00", "10:13:00", "10:22:00"]
            .iter()
            .map(|t| m("S01", Wechat, Payment, 1000, t))
            .collect();
        let r = match_up(&recorded, &stated, Duration::minutes(6));
        assert_eq!(r.matched.len(), 4, "{r:?}");
    }

    /// The most pairs within `window` of `recorded` and `stated` (one group), by trying
    /// every way: for small lists only.
    fn most_pairs(recorded: &[Movement], stated: &[Movement], window: Duration) -> usize {
        fn best(i: usize, used: u32, r: &[Movement], s: &[Movement], w: Duration) -> usize {
            if i == r.len() {
                return 0;
            }
            let mut most = best(i + 1, used, r, s, w);
            for (j, line) in s.iter().enumerate() {
                if used & (1 << j) == 0 && (line.at - r[i].at).abs() <= w {
                    most = most.max(1 + best(i + 1, used | (1 << j), r, s, w));
                }
            }
            most
        }
        best(0, 0, recorded, stated, window)
    }

    #[test]
    fn as_many_pairs_as_trying_every_way_finds_each_within_the_window_and_once() {
        let mut seed: u64 = 7;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let list = |n: u64, next: &mut dyn FnMut(u64) -> u64| -> Vec<Movement> {
            (0..n)
                .map(|_| {
                    let t = 36_000 + next(1_800) as i64;
                    let hms = format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
                    m("S01", Wechat, Payment, 1000, &hms)
                })
                .collect()
        };
        for _ in 0..500 {
            let (n, k) = (next(7), next(7));
            let (recorded, stated) = (list(n, &mut next), list(k, &mut next));
            let window = Duration::seconds(60 + next(400) as i64);
            let r = match_up(&recorded, &stated, window);
            assert_eq!(
                r.matched.len(),
                most_pairs(&recorded, &stated, window),
                "{recorded:?} {stated:?} {window}"
            );
            let mut lines: Vec<usize> = r.matched.iter().map(|&(_, j)| j).collect();
            lines.sort();
            lines.dedup();
            assert_eq!(lines.len(), r.matched.len(), "a line used twice");
            for &(i, j) in &r.matched {
                assert!((stated[j].at - recorded[i].at).abs() <= window);
            }
            assert_eq!(r.matched.len() + r.recorded_only.len(), recorded.len());
            assert_eq!(r.matched.len() + r.stated_only.len(), stated.len());
        }
    }

    #[test]
    fn a_line_is_used_once() {
        let recorded = [
            m("S01", Wechat, Payment, 500, "10:00:00"),
            m("S01", Wechat, Payment, 500, "10:00:10"),
        ];
        let stated = [m("S01", Wechat, Payment, 500, "10:00:08")];
        let r = match_up(&recorded, &stated, Duration::minutes(10));
        assert_eq!(r.matched, vec![(1, 0)]);
        assert_eq!(r.recorded_only, vec![0]);
    }
}
