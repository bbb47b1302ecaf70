//! The file `hq audit prune` moves entries into: JSON Lines, one entry a line with its
//! number in the log, oldest first. Written under a temporary name beside where it goes and
//! hashed as it is written ([`Archive`]); flushed to disk and hashed whole ([`Finished`])
//! before the entries are removed (on SQLite before the log is locked); given its name
//! ([`Finished::name`]) as the last step before the transaction that removes them commits,
//! never over another file. A process killed before leaves the temporary file.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use fairpos_postgres::audit::chain::Link;

use super::Entry;
use crate::{Error, Result};

/// A line of the archive: an entry with its number in the log and its place in the chain
/// (none for one written without, behind headquarters' back), so that `hq audit verify
/// --archive` walks it with the log.
#[derive(Serialize)]
struct Line<'a> {
    id: i64,
    #[serde(flatten)]
    entry: &'a Entry,
    #[serde(skip_serializing_if = "Option::is_none")]
    follows: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<&'a String>,
}

/// An archive being written.
pub struct Archive {
    file: BufWriter<tempfile::NamedTempFile>,
    path: PathBuf,
    sha256: Sha256,
    entries: u64,
}

/// What an archive holds, once written whole.
#[derive(Clone, Debug)]
pub struct Kept {
    /// Where it is (or is to be) kept, absolute.
    pub path: PathBuf,
    /// How many entries it holds.
    pub entries: u64,
    /// Of the whole file, in hex.
    pub sha256: String,
}

/// An archive written whole and flushed to disk, still under its temporary name (removed
/// when dropped unnamed).
pub struct Finished {
    file: tempfile::NamedTempFile,
    /// What it holds.
    pub kept: Kept,
}

/// How often a long prune says how far it is.
const PROGRESS_EVERY: u64 = 100_000;

impl Archive {
    /// A new archive to be kept at `path`: refused when something is there already (an
    /// archive is never written over) or the folder is not.
    pub fn create(path: &Path) -> Result<Archive> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let path = std::path::absolute(path).map_err(io(path))?;
        if path.symlink_metadata().is_ok() {
            return Err(Error::input(format!(
                "{} exists: an archive is never written over; name a new file",
                path.display()
            )));
        }
        let folder = folder_of(&path);
        let file = tempfile::Builder::new()
            .prefix(".audit-archive-")
            .tempfile_in(folder)
            .map_err(io(folder))?;
        Ok(Archive {
            file: BufWriter::new(file),
            path,
            sha256: Sha256::new(),
            entries: 0,
        })
    }

    /// How many entries it holds so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Adds entry `id`, linked by `link`, as the next line.
    pub fn add(&mut self, id: i64, entry: &Entry, link: &Link) -> Result<()> {
        let line = Line {
            id,
            entry,
            follows: link.follows.as_ref(),
            digest: link.digest.as_ref(),
        };
        let mut line = serde_json::to_vec(&line)
            .map_err(|e| Error::Other(format!("an audit entry as JSON: {e}")))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| self.io(e))?;
        self.sha256.update(&line);
        self.entries += 1;
        if self.entries.is_multiple_of(PROGRESS_EVERY) {
            eprintln!("{} entries archived…", self.entries);
        }
        Ok(())
    }

    /// Flushes the archive to disk; what it holds.
    pub fn finish(self) -> Result<Finished> {
        let Archive {
            file,
            path,
            sha256,
            entries,
        } = self;
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let file = file.into_inner().map_err(|e| io(e.into_error()))?;
        file.as_file().sync_all().map_err(io)?;
        let sha256 = fairpos_sync::keys::hex(&sha256.finalize());
        Ok(Finished {
            file,
            kept: Kept {
                path,
                entries,
                sha256,
            },
        })
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl Finished {
    /// Gives the archive its name, unless something took that name meanwhile (then it is
    /// removed, and the error says so), and puts the name on disk.
    pub fn name(self) -> Result<Kept> {
        let Finished { file, kept } = self;
        let path = kept.path.clone();
        file.persist_noclobber(&path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e.error,
        })?;
        let folder = folder_of(&path);
        let synced = std::fs::File::open(folder).and_then(|f| f.sync_all());
        synced.map_err(|source| Error::Io {
            path: folder.to_path_buf(),
            source: std::io::Error::new(
                source.kind(),
                format!("{source} (the archive {} is named)", path.display()),
            ),
        })?;
        Ok(kept)
    }
}

/// The folder `path` is in.
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str) -> Entry {
        Entry {
            at: "2025-01-01T00:00:00Z".into(),
            actor: "alice".into(),
            address: "local".into(),
            action: action.into(),
            detail: String::new(),
        }
    }

    #[test]
    fn an_archive_is_hashed_whole_and_named_only_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let mut archive = Archive::create(&path).unwrap();
        archive.add(7, &entry("init"), &Link::default()).unwrap();
        let link = Link {
            follows: Some("a".into()),
            digest: Some("b".into()),
        };
        archive.add(9, &entry("login"), &link).unwrap();
        let finished = archive.finish().unwrap();
        assert!(!path.exists());
        let kept = finished.name().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("{\"id\":7,\"at\":\"2025-01-01T00:00:00Z\""),
            "{text}"
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        // An entry without a link: none written.
        assert!(!lines[0].contains("digest"), "{text}");
        assert!(
            lines[1].ends_with(",\"follows\":\"a\",\"digest\":\"b\"}"),
            "{text}"
        );
        let hex: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!((kept.entries, kept.sha256), (2, hex));
        // Dropped unnamed: nothing left but the one named.
        let other = Archive::create(&dir.path().join("b.jsonl")).unwrap();
        drop(other.finish().unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_archive_is_never_written_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken.jsonl");
        std::fs::write(&path, "someone's").unwrap();
        let refused = Archive::create(&path).err().unwrap();
        assert!(refused.is_bad_input(), "{refused}");
        // The name taken while the archive was written: not named, the other file kept.
        let late = dir.path().join("late.jsonl");
        let archive = Archive::create(&late).unwrap();
        std::fs::write(&late, "first").unwrap();
        assert!(archive.finish().unwrap().name().is_err());
        assert_eq!(std::fs::read_to_string(&late).unwrap(), "first");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_bare_file_name_is_kept_in_the_working_folder_and_said_in_full() {
        let archive = Archive::create(Path::new("no-such-archive-here.jsonl")).unwrap();
        let path = archive.path.clone();
        assert!(path.is_absolute(), "{}", path.display());
        assert_eq!(
            path,
            std::env::current_dir()
                .unwrap()
                .join("no-such-archive-here.jsonl")
        );
        drop(archive);
    }
}
