//! The audit log as a hash chain, on either backend: each entry holds the SHA-256 of the
//! entry written before it (`follows`; [`START`] for the first) and its own (`digest`),
//! over that and everything it says ([`digest`]). An entry changed afterwards no longer
//! matches its digest; one removed leaves the next following a digest no entry holds; one
//! added without a link has none. A prune, which removes the oldest entries on purpose,
//! names in its own entry (itself linked) each digest an entry it kept now follows
//! ([`CONTINUES_FROM`]), so its gaps are told from a removal behind headquarters' back.
//! [`Check`] walks the log in order.
//!
//! What it cannot tell: someone able to write to the database can rewrite every entry from
//! one on, chaining them anew, can cut the newest entries off, and can add an entry that
//! says it is a prune, naming a gap they made. A digest noted elsewhere (`sought`) catches
//! the first two back to when it was noted; a prune's archive walked with the log (nothing
//! left to excuse, `--strict`) catches the third.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::StoredEntry;

/// What the first entry of a log follows.
pub const START: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// In the detail of a prune's entry: the digests its kept entries now follow, after it, one
/// `, ` between.
pub const CONTINUES_FROM: &str = "; the chain continues from ";

/// The SHA-256 (hex) of an entry that follows `follows` and says `entry`: each field with
/// its length in bytes before it, so that no two entries hash alike.
pub fn digest(follows: &str, entry: &StoredEntry) -> String {
    let (at, actor, address, action, detail) = entry;
    let mut hash = Sha256::new();
    hash.update(b"fairpos audit 1\n");
    for field in [follows, at, actor, address, action, detail] {
        hash.update(format!("{}:", field.len()));
        hash.update(field.as_bytes());
        hash.update(b"\n");
    }
    fairpos_sync::keys::hex(&hash.finalize())
}

/// Whether `text` has a digest's shape: 64 hex digits.
pub fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An entry's place in the chain, as the log holds it (none for one written without, behind
/// headquarters' back).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Link {
    pub follows: Option<String>,
    pub digest: Option<String>,
}

/// The detail of a prune's entry, `detail` followed by the digests `junctions` the entries
/// it kept follow.
pub fn with_junctions(detail: String, junctions: &[String]) -> String {
    if junctions.is_empty() {
        return detail;
    }
    format!("{detail}{CONTINUES_FROM}{}", junctions.join(", "))
}

/// The digests a prune's entry names as followed by its kept entries (64 hex digits each;
/// anything else, a person's words, is no name).
fn junctions_named(detail: &str) -> impl Iterator<Item = &str> {
    // The last: what a person named (an archive's path) comes before.
    let named = detail.rsplit_once(CONTINUES_FROM).map(|(_, list)| list);
    let names = named.into_iter().flat_map(|list| list.split(", "));
    names.filter(|name| is_digest(name))
}

/// Where the chain is broken: the first place found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Break {
    /// The entry no longer says what it said when written (or its link was changed).
    Changed { id: i64 },
    /// The entry follows a digest no entry before it holds, and no prune named: the entries
    /// before it (back to the one it followed) were removed or changed.
    Removed { id: i64 },
    /// An entry without a link (every entry is linked as it is written, and those of a log
    /// from before the chain when it began): written behind headquarters' back.
    Unlinked { id: i64 },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Changed { id } => write!(
                f,
                "entry #{id} no longer matches its digest: it was changed after it was written"
            ),
            Break::Removed { id } => write!(
                f,
                "entry #{id} follows an entry the log no longer holds, and no prune removed \
                 it: entries before #{id} were removed or changed"
            ),
            Break::Unlinked { id } => write!(
                f,
                "entry #{id} has no place in the chain: it was written behind headquarters' \
                 back"
            ),
        }
    }
}

/// The log walked in order of numbers, entry by entry ([`Check::add`]), then judged
/// ([`Check::finish`]).
#[derive(Debug, Default)]
pub struct Check {
    entries: u64,
    /// The last entry's number and digest.
    head: Option<(i64, String)>,
    /// Entries that follow no entry the log holds: their numbers and what they follow.
    gaps: Vec<(i64, String)>,
    /// What prunes named as followed by the entries they kept, and the last prune's
    /// entry that named each.
    named: HashMap<String, i64>,
    /// The digests looked for, and whether found.
    sought: Vec<(String, bool)>,
    broken: Option<Break>,
}

/// What a walk of the log found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Entries walked.
    pub entries: u64,
    /// The newest entry's number and digest.
    pub head: Option<(i64, String)>,
    /// Where the chain is broken, if it is.
    pub broken: Option<Break>,
    /// Digests looked for that no entry holds.
    pub missing: Vec<String>,
    /// Gaps a prune's entry named, at or after them: the entry after each, and the prune's.
    pub pruned: Vec<(i64, i64)>,
}

impl Check {
    /// A walk that also looks for entries holding each of `sought` (digests written down
    /// before).
    pub fn seeking(sought: &[String]) -> Check {
        Check {
            sought: sought.iter().map(|d| (d.to_lowercase(), false)).collect(),
            ..Check::default()
        }
    }

    /// Takes entry `id`, the next in order, as the log holds it.
    pub fn add(&mut self, id: i64, entry: &StoredEntry, link: &Link) {
        self.entries += 1;
        let (Some(follows), Some(digest)) = (&link.follows, &link.digest) else {
            self.found(Break::Unlinked { id });
            return;
        };
        if *digest != self::digest(follows, entry) {
            self.found(Break::Changed { id });
        }
        let previous = self.head.as_ref().map_or(START, |(_, d)| d.as_str());
        if follows != previous {
            self.gaps.push((id, follows.clone()));
        }
        if entry.3 == crate::audit::PRUNE_ACTION {
            for name in junctions_named(&entry.4) {
                self.named.insert(name.to_lowercase(), id);
            }
        }
        for (sought, found) in &mut self.sought {
            *found |= sought == digest;
        }
        self.head = Some((id, digest.clone()));
    }

    fn found(&mut self, broken: Break) {
        self.broken.get_or_insert(broken);
    }

    /// What the walk found: a gap no prune after it named breaks the chain.
    pub fn finish(mut self) -> Verdict {
        let mut pruned = Vec::new();
        for (id, follows) in &self.gaps {
            match self.named.get(follows) {
                Some(&prune) if prune >= *id => pruned.push((*id, prune)),
                _ => {
                    // The first break in the log's order is the one told.
                    let first = match &self.broken {
                        Some(b) if break_id(b) < *id => b.clone(),
                        _ => Break::Removed { id: *id },
                    };
                    self.broken = Some(first);
                    break;
                }
            }
        }
        Verdict {
            entries: self.entries,
            head: self.head,
            broken: self.broken,
            missing: self
                .sought
                .into_iter()
                .filter(|(_, found)| !found)
                .map(|(d, _)| d)
                .collect(),
            pruned,
        }
    }
}

fn break_id(broken: &Break) -> i64 {
    match broken {
        Break::Changed { id } | Break::Removed { id } | Break::Unlinked { id } => *id,
    }
}

/// The digests the entries kept by a prune follow that the entries before them no longer
/// hold: walked in order over the entries up to the last removed, each said whether it is
/// removed ([`Junctions::add`]), then the entry after them ([`Junctions::finish`]). Named
/// again too: a junction an earlier prune named, whose entry this one removes, that an
/// entry kept (written with a clock ahead) still follows. Only that prune excused it, and
/// a log nobody touched failed its check once the second prune removed it.
#[derive(Debug, Default)]
pub struct Junctions {
    previous_removed: bool,
    found: Vec<String>,
    /// What the kept entries not right after a removed one follow.
    kept_follow: Vec<String>,
    /// The junctions the removed prunes' entries named.
    named_by_removed: HashSet<String>,
}

impl Junctions {
    /// Takes the next entry in order: removed or kept, the entry, and what it follows.
    pub fn add(&mut self, removed: bool, entry: &StoredEntry, follows: Option<&str>) {
        if !removed && self.previous_removed {
            self.found.extend(follows.map(str::to_string));
        } else if !removed {
            self.kept_follow.extend(follows.map(str::to_string));
        }
        if removed && entry.3 == crate::audit::PRUNE_ACTION {
            let named = junctions_named(&entry.4).map(str::to_lowercase);
            self.named_by_removed.extend(named);
        }
        self.previous_removed = removed;
    }

    /// The junctions, given what the first entry after the walk follows (the prune's own
    /// entry when none is after it, which follows the newest entry before the removal).
    pub fn finish(mut self, next_follows: Option<&str>) -> Vec<String> {
        if self.previous_removed {
            self.found.extend(next_follows.map(str::to_string));
        }
        for follows in std::mem::take(&mut self.kept_follow) {
            if self.named_by_removed.contains(&follows) && !self.found.contains(&follows) {
                self.found.push(follows);
            }
        }
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str, detail: &str) -> StoredEntry {
        let at = "2026-12-05T00:00:00Z".to_string();
        let (actor, address) = ("alice".to_string(), "local".to_string());
        (at, actor, address, action.to_string(), detail.to_string())
    }

    /// A log of `entries`, linked: `(id, entry, link)`.
    fn chained(entries: Vec<StoredEntry>) -> Vec<(i64, StoredEntry, Link)> {
        let mut follows = START.to_string();
        let mut log = Vec::new();
        for (n, e) in entries.into_iter().enumerate() {
            let digest = digest(&follows, &e);
            let link = Link {
                follows: Some(follows),
                digest: Some(digest.clone()),
            };
            log.push((n as i64 + 1, e, link));
            follows = digest;
        }
        log
    }

    fn judged(log: &[(i64, StoredEntry, Link)], sought: &[String]) -> Verdict {
        let mut check = Check::seeking(sought);
        for (id, e, link) in log {
            check.add(*id, e, link);
        }
        check.finish()
    }

    fn five() -> Vec<(i64, StoredEntry, Link)> {
        chained(
            (1..=5)
                .map(|n| entry("user add", &format!("u{n}")))
                .collect(),
        )
    }

    #[test]
    fn fields_are_told_apart_by_their_lengths() {
        let a = (
            "a".into(),
            "bc".into(),
            String::new(),
            String::new(),
            String::new(),
        );
        let b = (
            "ab".into(),
            "c".into(),
            String::new(),
            String::new(),
            String::new(),
        );
        assert_ne!(digest(START, &a), digest(START, &b));
        assert_eq!(digest(START, &a).len(), 64);
    }

    #[test]
    fn an_untouched_log_is_whole_and_a_digest_written_down_is_found() {
        let log = five();
        let third = log[2].2.digest.clone().unwrap();
        let verdict = judged(&log, &[third.to_uppercase()]);
        assert_eq!(verdict.broken, None);
        assert_eq!(verdict.entries, 5);
        assert_eq!(verdict.head, Some((5, log[4].2.digest.clone().unwrap())));
        assert!(verdict.missing.is_empty());
        let elsewhere = digest(START, &entry("x", "y"));
        let missing = judged(&log, std::slice::from_ref(&elsewhere)).missing;
        assert_eq!(missing, [elsewhere]);
    }

    #[test]
    fn a_changed_entry_a_removed_one_and_one_written_behind_its_back_are_found() {
        let mut changed = five();
        changed[2].1 .4 = "u9".into();
        assert_eq!(judged(&changed, &[]).broken, Some(Break::Changed { id: 3 }));

        let mut removed = five();
        removed.remove(1);
        assert_eq!(judged(&removed, &[]).broken, Some(Break::Removed { id: 3 }));
        // The oldest removed: the first left follows what no entry holds.
        let oldest = five().split_off(2);
        assert_eq!(judged(&oldest, &[]).broken, Some(Break::Removed { id: 3 }));

        let mut unlinked = five();
        unlinked.push((6, entry("user add", "u6"), Link::default()));
        assert_eq!(
            judged(&unlinked, &[]).broken,
            Some(Break::Unlinked { id: 6 })
        );
        // Put before the first entry: without a link, or with one to the start.
        let mut before = vec![(0, entry("init", ""), Link::default())];
        before.extend(five());
        assert_eq!(judged(&before, &[]).broken, Some(Break::Unlinked { id: 0 }));
        let first = entry("init", "");
        let link = Link {
            follows: Some(START.into()),
            digest: Some(digest(START, &first)),
        };
        let mut before = vec![(0, first, link)];
        before.extend(five());
        assert_eq!(judged(&before, &[]).broken, Some(Break::Removed { id: 1 }));
    }

    #[test]
    fn a_prune_names_where_the_chain_continues() {
        let mut log = five();
        // Entries 2 and 4 pruned: 3 and 5 follow what they held.
        let mut junctions = Junctions::default();
        for (id, e, link) in &log {
            junctions.add(*id == 2 || *id == 4, e, link.follows.as_deref());
        }
        let named = junctions.finish(None);
        assert_eq!(
            named,
            [
                log[1].2.digest.clone().unwrap(),
                log[3].2.digest.clone().unwrap()
            ]
        );
        log.retain(|(id, ..)| *id != 2 && *id != 4);
        assert_eq!(judged(&log, &[]).broken, Some(Break::Removed { id: 3 }));
        let head = log.last().unwrap().2.digest.clone().unwrap();
        let detail = with_junctions("2 entries".into(), &named);
        let prune = entry(crate::audit::PRUNE_ACTION, &detail);
        let link = Link {
            digest: Some(digest(&head, &prune)),
            follows: Some(head),
        };
        log.push((6, prune, link));
        let verdict = judged(&log, &[]);
        assert_eq!(verdict.broken, None);
        assert_eq!(verdict.pruned, [(3, 6), (5, 6)]);
        // A prune's entry that names nothing does not excuse a gap.
        let mut silent = log.clone();
        silent.last_mut().unwrap().1 .4 = "2 entries".into();
        assert!(judged(&silent, &[]).broken.is_some());
        // Nor does one before the gap: entries written after the prune removed, and the
        // next linked anew to a digest the prune named.
        let mut later = log.clone();
        let e = entry("user add", "u7");
        let follows = named[0].clone();
        let link = Link {
            digest: Some(digest(&follows, &e)),
            follows: Some(follows),
        };
        later.push((7, e, link));
        assert_eq!(judged(&later, &[]).broken, Some(Break::Removed { id: 7 }));
    }

    #[test]
    fn only_digests_are_names() {
        let hex = "ab".repeat(32);
        let detail = format!("to x{CONTINUES_FROM}y.jsonl{CONTINUES_FROM}not-one, {hex}");
        assert_eq!(junctions_named(&detail).collect::<Vec<_>>(), [hex.as_str()]);
    }

    #[test]
    fn the_newest_removed_names_what_the_prunes_entry_follows() {
        // Nothing after the last removed: the prune's entry follows it (the newest before).
        let e = entry("user add", "u1");
        let mut junctions = Junctions::default();
        junctions.add(false, &e, Some(START));
        junctions.add(true, &e, Some("a"));
        assert_eq!(junctions.finish(Some("newest")), ["newest"]);
        // The one kept after: what it follows.
        let mut next = Junctions::default();
        next.add(true, &e, Some(START));
        assert_eq!(next.finish(Some("b")), ["b"]);
    }

    /// An entry kept by a first prune (written with a clock ahead) follows a junction that
    /// prune's entry named; a second prune that removes that entry names it again, else the
    /// log fails its check untouched.
    #[test]
    fn a_second_prune_names_again_what_the_first_named_of_an_entry_still_kept() {
        let mut log = five();
        // A first prune removed 1 and 3 and kept 2 (its clock ahead): 2 and 4 follow what
        // is gone. Its entry, 6, names both.
        let mut first = Junctions::default();
        for (id, e, link) in &log {
            first.add(*id == 1 || *id == 3, e, link.follows.as_deref());
        }
        let named = first.finish(None);
        log.retain(|(id, ..)| *id != 1 && *id != 3);
        let head = log.last().unwrap().2.digest.clone().unwrap();
        let prune = entry(
            crate::audit::PRUNE_ACTION,
            &with_junctions("2".into(), &named),
        );
        let link = Link {
            digest: Some(digest(&head, &prune)),
            follows: Some(head),
        };
        log.push((6, prune, link));
        assert_eq!(judged(&log, &[]).broken, None);
        // The second removes 4, 5 and the first's entry, 6, and keeps 2 still.
        let mut second = Junctions::default();
        for (id, e, link) in &log {
            second.add(*id != 2, e, link.follows.as_deref());
        }
        let again = second.finish(None);
        let two_follows = log[0].2.follows.clone().unwrap();
        assert!(again.contains(&two_follows), "{again:?}");
        log.retain(|(id, ..)| *id == 2);
        let head = log.last().unwrap().2.digest.clone().unwrap();
        let prune = entry(
            crate::audit::PRUNE_ACTION,
            &with_junctions("3".into(), &again),
        );
        let link = Link {
            digest: Some(digest(&head, &prune)),
            follows: Some(head),
        };
        log.push((7, prune, link));
        assert_eq!(judged(&log, &[]).broken, None);
    }
}
