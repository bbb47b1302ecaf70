//! `hq audit verify`: the audit log walked in order as a hash chain ([`chain::Check`]),
//! with the entries of the prunes' archives, when given, put back in their places: an
//! archive whose entries were changed, or a log missing entries no archive holds, breaks it.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use fairpos_postgres::audit::chain::{self, Check, Link, Verdict};
use fairpos_postgres::audit::StoredEntry;
use rusqlite::Connection;
use serde::Deserialize;

use crate::{now_text, Error, Result};

/// An entry with its number and its place in the chain.
pub type Numbered = (i64, StoredEntry, Link);

/// A line of an archive ([`super::archive`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchivedLine {
    id: i64,
    at: String,
    actor: String,
    address: String,
    action: String,
    detail: String,
    follows: Option<String>,
    digest: Option<String>,
}

/// The entries of the archives at `paths`, in order of their numbers, and how many lines
/// were left out: entries a prune removed before the chain began (no link, numbered before
/// every linked entry the archives hold; their log was linked without them). An unlinked
/// entry among linked ones, written behind headquarters' back and pruned since, is kept,
/// for the walk to find.
pub fn archived(paths: &[PathBuf]) -> Result<(Vec<Numbered>, u64)> {
    let (mut entries, mut unlinked) = (Vec::new(), Vec::new());
    for path in paths {
        let file = std::fs::File::open(path).map_err(|source| Error::ReadInput {
            path: path.clone(),
            source,
        })?;
        for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|source| Error::ReadInput {
                path: path.clone(),
                source,
            })?;
            let read: ArchivedLine = serde_json::from_str(&line).map_err(|e| {
                let at = format!("{}:{}", path.display(), n + 1);
                Error::input(format!("{at}: not a line of an audit archive: {e}"))
            })?;
            let entry = (read.at, read.actor, read.address, read.action, read.detail);
            let link = Link {
                follows: read.follows,
                digest: read.digest,
            };
            let into = if link == Link::default() {
                &mut unlinked
            } else {
                &mut entries
            };
            into.push((read.id, entry, link));
        }
    }
    let first_linked = entries.iter().map(|(id, ..)| *id).min();
    unlinked.sort_by_key(|(id, ..)| *id);
    unlinked.dedup();
    let before = unlinked.partition_point(|(id, ..)| first_linked.is_none_or(|f| *id < f));
    entries.extend(unlinked.drain(before..));
    let before_the_chain = before as u64;
    entries.sort_by_key(|(id, ..)| *id);
    // The same archive given twice: once.
    entries.dedup();
    if let Some(twice) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::input(format!(
            "entry #{} is in two archives, different in each",
            twice[0].0
        )));
    }
    Ok((entries, before_the_chain))
}

/// The SHA-256 of the file at `path`, in hex, as a prune's entry holds its archive's.
fn file_sha256(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let read = |source| Error::ReadInput {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read)?;
    let mut hash = Sha256::new();
    std::io::copy(&mut file, &mut hash).map_err(read)?;
    Ok(fairpos_sync::keys::hex(&hash.finalize()))
}

/// An archive given, and the prune whose entry holds its SHA-256.
pub struct ArchiveFile<'a> {
    pub path: &'a Path,
    pub sha256: String,
    /// The number of the prune's entry holding the file's SHA-256: none when the file was
    /// changed since, that entry is in an archive not given, or the prune did not commit.
    pub written_by: Option<i64>,
}

/// Each archive at `paths`, hashed whole and sought among `named`, the archives' SHA-256s
/// the prunes' entries walked hold ([`Walk::finish`]).
pub fn written_by<'a>(
    paths: &'a [PathBuf],
    named: &std::collections::HashMap<String, i64>,
) -> Result<Vec<ArchiveFile<'a>>> {
    let file = |path: &'a PathBuf| {
        let sha256 = file_sha256(path)?;
        let written_by = named.get(&sha256).copied();
        Ok(ArchiveFile {
            path,
            sha256,
            written_by,
        })
    };
    paths.iter().map(file).collect()
}

/// The SHA-256 of the archive a prune's entry says it wrote ([`super::prune::detail`]), if
/// it says one: at the end of what it says, before the digests its kept entries follow
/// (the archive's path, which a person names, comes before it).
fn archive_named(detail: &str) -> Option<&str> {
    let said = match detail.rsplit_once(chain::CONTINUES_FROM) {
        Some((said, junctions)) if junctions.split(", ").all(chain::is_digest) => said,
        _ => detail,
    };
    let digest = said.get(said.len().checked_sub(64)?..)?;
    let before = &said[..said.len() - 64];
    (before.ends_with(", sha256 ") && chain::is_digest(digest)).then_some(digest)
}

/// A walk of the log in order, the archived entries put in their places.
pub struct Walk {
    check: Check,
    archived: std::iter::Peekable<std::vec::IntoIter<Numbered>>,
    from_archives: u64,
    /// The archives' SHA-256 the prunes' entries walked hold, with each entry's number.
    archives_named: std::collections::HashMap<String, i64>,
}

impl Walk {
    /// A walk that also looks for each digest of `sought`, with `archived` put in.
    pub fn new(sought: &[String], archived: Vec<Numbered>) -> Walk {
        Walk {
            check: Check::seeking(sought),
            archived: archived.into_iter().peekable(),
            from_archives: 0,
            archives_named: Default::default(),
        }
    }

    /// Takes the log's entry `id`, the next in order, after the archived entries before it.
    pub fn add(&mut self, id: i64, entry: &StoredEntry, link: &Link) {
        while let Some((at, e, l)) = self.archived.next_if(|(a, ..)| *a < id) {
            self.from_archives += 1;
            self.walked(at, &e, &l);
        }
        // Archived by a prune whose commit failed: the log's is walked.
        self.archived.next_if(|(a, ..)| *a == id);
        self.walked(id, entry, link);
    }

    fn walked(&mut self, id: i64, entry: &StoredEntry, link: &Link) {
        if entry.3 == fairpos_postgres::audit::PRUNE_ACTION {
            if let Some(sha256) = archive_named(&entry.4) {
                self.archives_named.insert(sha256.to_ascii_lowercase(), id);
            }
        }
        self.check.add(id, entry, link);
    }

    /// What the walk found, how many archived entries it walked, and the archives' SHA-256
    /// the prunes' entries walked hold, each with that entry's number.
    pub fn finish(mut self) -> (Verdict, u64, std::collections::HashMap<String, i64>) {
        let rest: Vec<Numbered> = self.archived.by_ref().collect();
        for (id, e, l) in rest {
            self.from_archives += 1;
            self.walked(id, &e, &l);
        }
        (self.check.finish(), self.from_archives, self.archives_named)
    }
}

/// Walks a SQLite log, in one read transaction.
pub fn walk_sqlite(conn: &Connection, walk: &mut Walk) -> Result<()> {
    let read = conn.unchecked_transaction()?;
    let mut stmt = read.prepare(
        "SELECT id, at, actor, address, action, detail, follows, digest FROM audit_log
         ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let entry = super::entry_from(r, 1)?.stored();
        walk.add(r.get(0)?, &entry, &super::link_from(r, 6)?);
    }
    Ok(())
}

/// The digest noted last in the anchors file at `path` (`--anchors`: a line `DIGEST #ID
/// WHEN` for the newest entry of each whole walk; blank lines and `#` comments skipped), if
/// it holds one.
pub fn last_anchor(path: &Path) -> Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::ReadInput {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let noted = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with('#'))
        .last();
    let Some((n, line)) = noted else {
        return Ok(None);
    };
    let digest = line.split_whitespace().next().unwrap_or_default();
    if !chain::is_digest(digest) {
        return Err(Error::input(format!(
            "{}:{}: not a digest of the audit log",
            path.display(),
            n + 1
        )));
    }
    Ok(Some(digest.to_lowercase()))
}

/// Notes entry `id`'s `digest` as the last line of the anchors file at `path` (made for
/// this user alone when missing), flushed to disk, unless it is noted last already. Whether
/// it was noted.
pub fn note_anchor(path: &Path, id: i64, digest: &str) -> Result<bool> {
    use std::os::unix::fs::OpenOptionsExt;
    if last_anchor(path)?.as_deref() == Some(digest) {
        return Ok(false);
    }
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    writeln!(file, "{digest} #{id} {}", now_text()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use fairpos_postgres::audit::chain;

    use super::*;

    #[test]
    fn the_last_anchor_noted_is_the_one_checked_and_none_is_noted_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anchors");
        assert_eq!(last_anchor(&path).unwrap(), None);
        let (a, b) = ("a".repeat(64), "B".repeat(64));
        assert!(note_anchor(&path, 3, &a).unwrap());
        assert!(!note_anchor(&path, 3, &a).unwrap());
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(file, "# by hand\n{b} #9 copied from the ticket\n").unwrap();
        assert_eq!(last_anchor(&path).unwrap(), Some("b".repeat(64)));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&format!("{a} #3 20")), "{text}");
        std::fs::write(&path, "not-a-digest #1\n").unwrap();
        let refused = last_anchor(&path).unwrap_err();
        assert!(refused
            .to_string()
            .ends_with("anchors:1: not a digest of the audit log"));
    }

    /// The walk of the SQLite log `conn` with `archived` put in.
    fn walked(conn: &Connection, archived: Vec<Numbered>) -> Verdict {
        let mut walk = Walk::new(&[], archived);
        walk_sqlite(conn, &mut walk).unwrap();
        walk.finish().0
    }

    #[test]
    fn a_log_from_before_the_chain_is_linked_in_order_when_it_begins() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,
                 actor TEXT NOT NULL, address TEXT NOT NULL, action TEXT NOT NULL,
                 detail TEXT NOT NULL) STRICT;
             INSERT INTO audit_log(at, actor, address, action, detail) VALUES
                 ('2025-01-01T00:00:00Z', 'alice', 'local', 'init', 'the demo fair'),
                 ('2025-01-02T00:00:00Z', 'bob', '10.0.0.9', 'login', '');
             -- Past two batches of linking.
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20001)
             INSERT INTO audit_log(at, actor, address, action, detail)
                 SELECT '2025-01-03T00:00:00Z', 'bob', '10.0.0.9', 'login refused', 'try ' || i FROM n;",
        )
        .unwrap();
        super::super::migrate(&conn).unwrap();
        super::super::record(&conn, "alice", "local", "user add", "carol").unwrap();
        let verdict = walked(&conn, Vec::new());
        assert_eq!((verdict.broken, verdict.entries), (None, 20_004));
        // Begun once: opened again, nothing is linked anew.
        let head = verdict.head;
        super::super::migrate(&conn).unwrap();
        assert_eq!(walked(&conn, Vec::new()).head, head);
        // An entry written after, without a link: found.
        conn.execute(
            "INSERT INTO audit_log(at, actor, address, action, detail)
             VALUES ('2025-01-03T00:00:00Z', 'mallory', 'local', 'login', '')",
            [],
        )
        .unwrap();
        let broken = walked(&conn, Vec::new()).broken;
        let unlinked = fairpos_postgres::audit::chain::Break::Unlinked { id: 20_005 };
        assert_eq!(broken, Some(unlinked));
    }

    #[test]
    fn a_prune_of_every_entry_leaves_one_chain_alone_and_with_its_archive() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate(&conn).unwrap();
        for (at, action) in [
            ("2025-01-01T00:00:00Z", "init"),
            ("2025-01-02T00:00:00Z", "login"),
        ] {
            let entry = super::super::Entry {
                at: at.into(),
                actor: "alice".into(),
                address: "local".into(),
                action: action.into(),
                detail: String::new(),
            };
            super::super::insert(&conn, &entry).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("all.jsonl");
        let archive = super::super::archive::Archive::create(&path).unwrap();
        let before = "2026-01-01T00:00:00Z".parse().unwrap();
        let by = ("bob", "local");
        let kept = super::super::prune::prune(&mut conn, before, archive, by, |_| "2".into());
        assert_eq!(kept.unwrap().unwrap().entries, 2);
        // The prune's entry, alone in the log, follows the last removed.
        let verdict = walked(&conn, Vec::new());
        assert_eq!((verdict.broken, verdict.pruned), (None, vec![(3, 3)]));
        let (archived, _) = archived(std::slice::from_ref(&path)).unwrap();
        let verdict = walked(&conn, archived);
        assert_eq!((verdict.broken, verdict.entries), (None, 3));
        assert!(verdict.pruned.is_empty());
    }

    #[test]
    fn entries_written_at_once_by_four_connections_stay_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hq.db");
        let open = || {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000;")
                .unwrap();
            conn
        };
        super::super::migrate(&open()).unwrap();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let conn = open();
                std::thread::spawn(move || {
                    for n in 0..25 {
                        let detail = format!("{w}-{n}");
                        super::super::record(&conn, "alice", "local", "login", &detail).unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let verdict = walked(&open(), Vec::new());
        assert_eq!((verdict.broken, verdict.entries), (None, 100));
    }

    #[test]
    fn a_prunes_entry_names_its_archives_sha256_at_the_end_of_what_it_says() {
        let (h, j) = ("c".repeat(64), "d".repeat(64));
        let said = format!(
            "2 entries written before 2025-06-01 (+08:00), archived to /a b/x.jsonl, sha256 {h}"
        );
        assert_eq!(archive_named(&said), Some(h.as_str()));
        let continues = chain::with_junctions(said.clone(), std::slice::from_ref(&j));
        assert_eq!(archive_named(&continues), Some(h.as_str()));
        // A path that says what a prune says: the end is read, not the path.
        let path = format!("/x, sha256 {j}{}y.jsonl", chain::CONTINUES_FROM);
        let said =
            format!("1 entries written before 2025-06-01 (+08:00), archived to {path}, sha256 {h}");
        assert_eq!(archive_named(&said), Some(h.as_str()));
        for none in [
            "all",
            "",
            "归档",
            &format!("sha256 {h}"),
            &format!(", sha256 {}", &h[1..]),
        ] {
            assert_eq!(archive_named(none), None, "{none}");
        }
    }

    /// An entry by `a` at `at`.
    fn entry(at: &str, action: &str) -> StoredEntry {
        let a = |s: &str| s.to_string();
        (a(at), a("a"), a("local"), a(action), String::new())
    }

    #[test]
    fn an_archive_from_before_the_chain_is_left_out_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("2025.jsonl");
        let old = r#"{"id":1,"at":"2025-01-01T00:00:00Z","actor":"a","address":"local","action":"init","detail":""}"#;
        let linked = format!(
            r#"{{"id":2,"at":"2025-01-02T00:00:00Z","actor":"a","address":"local","action":"login","detail":"","follows":"{}","digest":"{}"}}"#,
            chain::START,
            chain::digest(chain::START, &entry("2025-01-02T00:00:00Z", "login"))
        );
        // Written behind headquarters' back after the chain began, and pruned since.
        let slipped_in = old.replace(r#""id":1"#, r#""id":3"#);
        std::fs::write(&path, format!("{old}\n{linked}\n{slipped_in}\n")).unwrap();
        // The same archive given twice: each line once.
        let (entries, before_the_chain) = archived(&[path.clone(), path]).unwrap();
        assert_eq!(before_the_chain, 1);
        assert_eq!(entries.iter().map(|e| e.0).collect::<Vec<_>>(), [2, 3]);
        let mut walk = Walk::new(&[], entries);
        walk.add(4, &entry("2025-01-04T00:00:00Z", "x"), &Link::default());
        let broken = walk.finish().0.broken;
        assert!(
            matches!(broken, Some(chain::Break::Unlinked { id: 3 })),
            "{broken:?}"
        );
    }
}
