//! `hq audit verify`: the audit log walked in order as a hash chain ([`chain::Check`]),
//! with the entries of the prunes' archives, when given, put back in their places: an
//! archive whose entries were changed, or a log missing entries no archive holds, breaks it.

use std::io::BufRead;
use std::path::PathBuf;

use fairpos_postgres::audit::chain::{Check, Link, Verdict};
use fairpos_postgres::audit::StoredEntry;
use rusqlite::Connection;
use serde::Deserialize;

use crate::{Error, Result};

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

/// The entries of the archives at `paths`, in order of their numbers.
pub fn archived(paths: &[PathBuf]) -> Result<Vec<Numbered>> {
    let mut entries = Vec::new();
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
            entries.push((read.id, entry, link));
        }
    }
    entries.sort_by_key(|(id, ..)| *id);
    // The same archive given twice: once.
    entries.dedup();
    if let Some(twice) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::input(format!(
            "entry #{} is in two archives, different in each",
            twice[0].0
        )));
    }
    Ok(entries)
}

/// A walk of the log in order, the archived entries put in their places.
pub struct Walk {
    check: Check,
    archived: std::iter::Peekable<std::vec::IntoIter<Numbered>>,
    from_archives: u64,
}

impl Walk {
    /// A walk that also looks for each digest of `sought`, with `archived` put in.
    pub fn new(sought: &[String], archived: Vec<Numbered>) -> Walk {
        Walk {
            check: Check::seeking(sought),
            archived: archived.into_iter().peekable(),
            from_archives: 0,
        }
    }

    /// Takes the log's entry `id`, the next in order, after the archived entries before it.
    pub fn add(&mut self, id: i64, entry: &StoredEntry, link: &Link) {
        while let Some((at, e, l)) = self.archived.next_if(|(a, ..)| *a < id) {
            self.from_archives += 1;
            self.check.add(at, &e, &l);
        }
        // Archived by a prune whose commit failed: the log's is walked.
        self.archived.next_if(|(a, ..)| *a == id);
        self.check.add(id, entry, link);
    }

    /// What the walk found, and how many archived entries it walked.
    pub fn finish(mut self) -> (Verdict, u64) {
        for (id, e, l) in self.archived {
            self.from_archives += 1;
            self.check.add(id, &e, &l);
        }
        (self.check.finish(), self.from_archives)
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
