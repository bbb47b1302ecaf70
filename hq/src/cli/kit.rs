//! What every command of the `fairpos` command line does alike, the till's and
//! headquarters': reading an input file, writing a result (a file, or `-` for standard
//! output), JSON on one line, and a report in the form asked for.

use std::io::{IsTerminal, Write};
use std::path::Path;

use fairpos_projection::report::format::OutputFormat;
use fairpos_projection::report::{self, Dimension};
use fairpos_sync::bundle::Bundle;
use rusqlite::Connection;

use super::args::{HqCommand, ReportArgs};
use crate::{Error, Result};

/// A table to import (a catalog, stalls, sellers, units): UTF-8, or GBK as a spreadsheet in
/// Chinese Windows saves "CSV".
pub fn read_table(path: &Path) -> Result<String> {
    let bytes = read_bytes(path)?;
    match fairpos_domain::text::utf8_or_gbk(&bytes) {
        Some((text, _)) => Ok(text),
        None => Err(Error::input(format!(
            "{}: neither UTF-8 nor GBK text (UTF-16 \"Unicode text\", perhaps): save it as \
             \"CSV UTF-8\" or plain CSV",
            path.display()
        ))),
    }
}

/// The bytes of an input file (a statement in GBK, an image), or of standard input when
/// `path` is `-`, read no further than [`LARGEST_INPUT`] (`< /dev/zero` must not fill memory).
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let read = if path == Path::new("-") {
        crate::untrusted::read_at_most_from(std::io::stdin().lock(), LARGEST_INPUT)
    } else {
        crate::untrusted::read_at_most(path, LARGEST_INPUT)
    };
    let read = read.map_err(|source| Error::ReadInput {
        path: path.to_path_buf(),
        source,
    })?;
    read.ok_or_else(|| {
        Error::input(format!(
            "{}: over {} MiB, more than a catalog, a statement, a photo or a batch of sales holds",
            path.display(),
            LARGEST_INPUT >> 20
        ))
    })
}

/// An input file as text ([`read_bytes`]: `-` is standard input).
pub fn read_input(path: &Path) -> Result<String> {
    String::from_utf8(read_bytes(path)?).map_err(|e| Error::ReadInput {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
    })
}

/// The most an input file (a table to import, a statement, a slip's photo) may hold: read
/// no further, whatever the file says its length is (a pipe says 0). A province's catalog
/// or a month's statement is a few megabytes; checking a table takes several times its size.
pub const LARGEST_INPUT: u64 = 256 << 20;

/// Writes `bytes` to `path`, or to standard output when `path` is `-`. A file there is
/// replaced whole (written beside it and renamed over it once on disk: a stick pulled, or
/// the power cut, leaves the old file or the new one; its mode kept), unless it is a SQLite
/// database or its write-ahead log (headquarters', a till's, a backup): a report's `--out`
/// naming one by mistake would have destroyed it. Anything but a regular file or nothing (a
/// symbolic link such as `/dev/stdout` or one to a shared file, a device, a FIFO) is written
/// to in place, as before: a rename would replace the link, not what it points to.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        return out.write_all(bytes).and_then(|_| out.flush()).map_err(io);
    }
    if is_a_database(path) {
        return Err(Error::input(format!(
            "{} is a database (or its log): not written over; give --out another file",
            path.display()
        )));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.is_file() => std::fs::write(path, bytes).map_err(io),
        Ok(m) => write_durably(path, bytes, true, Some(m.permissions())),
        Err(_) => write_durably(path, bytes, true, None),
    }
}

/// Writes `bytes` to a new file `path`, on disk before it returns; a file already there is
/// refused, not written over (a bundle of another till on the same stick).
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    if path == Path::new("-") {
        return Err(Error::input(
            "give the file to write (on the USB stick), not `-`: a bundle is a file",
        ));
    }
    if path.symlink_metadata().is_ok() {
        return Err(Error::input(format!(
            "{} exists already: not written over (it may be another till's bundle); name \
             another file, such as one with this device's name",
            path.display()
        )));
    }
    write_durably(path, bytes, false, None)
}

/// Writes `bytes` beside `path`, flushed to disk, then renames it to `path` (over a file
/// there when `over`, else refused) and flushes the directory (a warning where that
/// fails); with the mode `kept` (the file's it replaces), else 0644 less the process's
/// umask.
fn write_durably(
    path: &Path,
    bytes: &[u8],
    over: bool,
    kept: Option<std::fs::Permissions>,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io = |at: &Path| {
        let at = at.to_path_buf();
        move |source| Error::Io { path: at, source }
    };
    let mut partial = tempfile::Builder::new()
        .prefix(".fairpos-writing-")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(parent)
        .map_err(io(parent))?;
    if let Some(mode) = kept {
        partial.as_file().set_permissions(mode).map_err(io(path))?;
    }
    partial.write_all(bytes).map_err(io(path))?;
    partial.as_file().sync_all().map_err(io(path))?;
    let placed = match over {
        true => partial.persist(path),
        false => partial.persist_noclobber(path),
    };
    placed.map_err(|e| match e.error.kind() {
        std::io::ErrorKind::AlreadyExists => Error::input(format!(
            "{} exists already: not written over; name another file",
            path.display()
        )),
        _ => io(path)(e.error),
    })?;
    // The file is written and on disk; a file system that cannot flush a directory (some
    // FUSE ones) gets a warning, not a failure a retry would then meet as "exists already".
    if let Err(e) = crate::backup::sync_directory(parent) {
        eprintln!("warning: the rename may not be on disk yet: {e}");
    }
    Ok(())
}

/// Whether `path` is a SQLite database or write-ahead log, by its first bytes.
fn is_a_database(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head));
    read.is_ok()
        && (&head == b"SQLite format 3\0" || matches!(head[..4], [0x37, 0x7f, 0x06, 0x82 | 0x83]))
}

/// How a file is named in messages about its lines.
pub fn file_label(path: &Path) -> String {
    path.display().to_string()
}

/// `value` as JSON on one line of standard output.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string(value).map_err(|e| Error::Other(format!("JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// Rows printed as they are read, never all held (`hq sales` lists ten million at a
/// province): a line each, or one JSON array written element by element, as
/// [`print_json`] writes a whole list.
pub struct RowsOut {
    json: bool,
    written: usize,
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
}

impl RowsOut {
    pub fn new(json: bool) -> RowsOut {
        RowsOut {
            json,
            written: 0,
            out: std::io::BufWriter::new(std::io::stdout().lock()),
        }
    }

    /// Prints `row`: as JSON, else as `line` makes it.
    pub fn row<T: serde::Serialize>(
        &mut self,
        row: &T,
        line: impl FnOnce(&T) -> String,
    ) -> Result<()> {
        use std::io::Write;
        let written = if self.json {
            let sep = if self.written == 0 { "[" } else { "," };
            let text =
                serde_json::to_string(row).map_err(|e| Error::Other(format!("JSON: {e}")))?;
            write!(self.out, "{sep}{text}")
        } else {
            writeln!(self.out, "{}", line(row))
        };
        written.map_err(stdout_error)?;
        self.written += 1;
        Ok(())
    }

    /// Ends the listing (the JSON array's close) and flushes it.
    pub fn finish(mut self) -> Result<()> {
        use std::io::Write;
        if self.json {
            let open = if self.written == 0 { "[" } else { "" };
            writeln!(self.out, "{open}]").map_err(stdout_error)?;
        }
        self.out.flush().map_err(stdout_error)
    }
}

fn stdout_error(e: std::io::Error) -> Error {
    Error::Other(format!("standard output: {e}"))
}

/// An output format asked for; xlsx only into a file.
pub fn output_format(text: &str, out: Option<&Path>) -> Result<OutputFormat> {
    let format: OutputFormat = text.parse()?;
    let to_terminal = out == Some(Path::new("-")) && std::io::stdout().is_terminal();
    if format == OutputFormat::Xlsx && (out.is_none() || to_terminal) {
        return Err(Error::input("--format xlsx needs --out FILE"));
    }
    Ok(format)
}

/// Writes the report `a` asks for over the projection in `conn`.
pub fn report_to(conn: &Connection, a: &ReportArgs) -> Result<()> {
    let by: Dimension = a.by.parse()?;
    let format = output_format(&a.format, a.out.as_deref())?;
    let bytes = report::format::render(&report::build(conn, by)?, format)?;
    write_output(a.out.as_deref().unwrap_or(Path::new("-")), &bytes)
}

/// Warns, on stderr, of the stalls an import's `rows` (`(stall, the row's id)`, `what` they
/// are) name that the fair in `conn` lacks ([`catalog_csv::unknown_stalls`]): taken as they
/// are, the stalls may be imported next. At a till and at headquarters alike.
pub fn warn_of_unknown_stalls<'r>(
    conn: &Connection,
    rows: impl Iterator<Item = (&'r str, &'r str)>,
    what: &str,
) -> Result<()> {
    let stalls = fairpos_projection::catalog::stalls(conn)?;
    let held = stalls.into_iter().map(|s| s.id).collect();
    for unknown in fairpos_domain::catalog_csv::unknown_stalls(rows, &held, what) {
        eprintln!("warning: {unknown}");
    }
    Ok(())
}

impl HqCommand {
    /// Whether the command only reads and prints, so that it may end quietly when the reader
    /// of its output goes away (`| head`) by SIGPIPE's default, killing it. Every other
    /// command (`serve` above all, whose sockets a client may reset mid-write) keeps Rust's
    /// SIGPIPE ignored, and a closed socket is an error of that socket alone.
    pub fn only_prints(&self) -> bool {
        use super::args::{AuditCommand, PostgresCommand, StatementsCommand, UserCommand};
        match self {
            HqCommand::Devices(_)
            | HqCommand::Sales(_)
            | HqCommand::Report(_)
            | HqCommand::Events(_)
            | HqCommand::Reconcile(_)
            | HqCommand::Leaderboard(_)
            | HqCommand::Unit { .. }
            | HqCommand::User(UserCommand::List(_))
            | HqCommand::Statements(StatementsCommand::Match { .. })
            | HqCommand::Postgres(PostgresCommand::Report { .. })
            | HqCommand::Postgres(PostgresCommand::Migrate { dry_run: true, .. }) => true,
            // Listing the log, or checking its chain; not a prune, which moves entries.
            HqCommand::Audit(a) => !matches!(a.prune, Some(AuditCommand::Prune(_))),
            HqCommand::ScreenLink(a) => a.list,
            _ => false,
        }
    }
}

/// The bundle in `file`, read no further than `largest` bytes (over it: `too_big` says why).
pub fn read_bundle(file: &Path, largest: u64, too_big: &str) -> Result<Bundle> {
    let unreadable = |source| Error::ReadInput {
        path: file.to_path_buf(),
        source,
    };
    let Some(bytes) = crate::untrusted::read_at_most(file, largest).map_err(unreadable)? else {
        return Err(Error::input(format!(
            "{}: over {largest} bytes, {too_big}",
            file.display()
        )));
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::input(format!("{}: not a bundle: {e}", file.display())))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn an_output_replaces_a_file_whole_keeping_its_mode_and_writes_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        // A report an organizer keeps to themselves: replaced, still owner-only.
        let report = dir.path().join("report.csv");
        std::fs::write(&report, "old").unwrap();
        std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_output(&report, b"new").unwrap();
        assert_eq!(std::fs::read(&report).unwrap(), b"new");
        let mode = std::fs::metadata(&report).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A link to a shared file: the shared file is written, the link stays one.
        let shared = dir.path().join("shared.csv");
        std::fs::write(&shared, "old").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&shared, &link).unwrap();
        write_output(&link, b"through").unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&shared).unwrap(), b"through");
        // Nothing left beside them.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".fairpos-writing-"))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn a_new_file_is_never_written_over_nor_standard_output() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("t01.bundle");
        write_new(&bundle, b"first").unwrap();
        let again = write_new(&bundle, b"second").unwrap_err().to_string();
        assert!(again.contains("exists already"), "{again}");
        assert_eq!(std::fs::read(&bundle).unwrap(), b"first");
        let dash = write_new(Path::new("-"), b"x").unwrap_err().to_string();
        assert!(dash.contains("not `-`"), "{dash}");
    }
}
