//! What headquarters logged: `hq events` (refusals and other sync events); and the audit
//! log's entry for each command run to change headquarters ([`crate::audit`]; `hq audit`
//! lists it), written once the command has run (with why, when it failed).

use std::path::Path;

use serde::Serialize;

use super::args::{
    AuditArgs, AuditCommand, HqBundleCommand, HqCatalogCommand, HqCommand, ImportOnly,
    PostgresCommand, SlipCommand, StatementsCommand, UserCommand,
};
use super::kit::RowsOut;
use super::postgres::{database_of, with_pool, with_pool_as_it_is};
use crate::audit::{self, prune};
use crate::{Error, Hq, Result};

#[derive(Serialize)]
struct EventRow {
    at: String,
    device: String,
    kind: String,
    detail: String,
}

/// `hq events`: every sync event, oldest first, printed as it is read.
pub fn print_events(dir: &Path, json: bool) -> Result<()> {
    let mut out = RowsOut::new(json);
    let mut print = |row: EventRow| {
        out.row(&row, |r| {
            format!("{} {} {}: {}", r.at, r.device, r.kind, r.detail)
        })
    };
    match database_of(dir, None)? {
        Some(url) => super::postgres::each_event(&url, |(at, device, kind, detail)| {
            print(EventRow {
                at,
                device,
                kind,
                detail,
            })
        })?,
        None => each_event_in(&Hq::open(dir)?.conn, print)?,
    }
    out.finish()
}

fn each_event_in(
    conn: &rusqlite::Connection,
    mut each: impl FnMut(EventRow) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare("SELECT at, device, kind, detail FROM sync_events ORDER BY id")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        each(EventRow {
            at: r.get(0)?,
            device: r.get(1)?,
            kind: r.get(2)?,
            detail: r.get(3)?,
        })?;
    }
    Ok(())
}

/// What a command run to change headquarters was given, for the audit log.
pub struct Done {
    action: &'static str,
    detail: String,
    /// Written by the command itself when it succeeds (with what came of it, which only it
    /// knows; `audit prune` in its own transaction): here only when it failed.
    only_failed: bool,
    /// The database the command named itself (`--database`), which it changed instead of
    /// the data directory's.
    database: Option<String>,
}

impl Done {
    fn new(action: &'static str, detail: impl Into<String>) -> Option<Done> {
        Some(Done {
            action,
            detail: detail.into(),
            only_failed: false,
            database: None,
        })
    }

    /// The same, written by the command itself when it succeeds.
    fn only_failed(self) -> Done {
        Done {
            only_failed: true,
            ..self
        }
    }

    /// The same, done to `database` when the command named one.
    fn on(self, database: &Option<String>) -> Done {
        Done {
            database: database.clone(),
            ..self
        }
    }
}

/// The audit log's entry for `command`, if it is run to change headquarters: its action and
/// what it was given, never a password or a code. `None` for one that only reads or serves.
pub fn done_by(command: &HqCommand) -> Option<Done> {
    let file = |path: &Path| path.display().to_string();
    match command {
        HqCommand::Init { fair, database, .. } => {
            let fair = fair.as_deref().map_or("the demo fair".to_string(), file);
            let mut done = Done::new("init", fair)?;
            if let Some(url) = database {
                done.detail += &format!(" on {}", fairpos_postgres::shown_address(url));
            }
            Some(done)
        }
        HqCommand::Catalog(HqCatalogCommand::Import { file: f }) => {
            Done::new("catalog import", file(f))
        }
        HqCommand::Catalog(HqCatalogCommand::Recover {
            bundle, dry_run, ..
        }) => match dry_run {
            true => None,
            false => Done::new("catalog recover", file(bundle)),
        },
        HqCommand::Stalls(ImportOnly::Import { file: f }) => Done::new("stalls import", file(f)),
        HqCommand::Sellers(ImportOnly::Import { file: f }) => Done::new("sellers import", file(f)),
        HqCommand::Units(ImportOnly::Import { file: f }) => Done::new("units import", file(f)),
        // Written with how many were ended.
        HqCommand::EndSessions => Done::new("end-sessions", "").map(Done::only_failed),
        HqCommand::User(user) => done_to_an_account(user),
        HqCommand::AddDevice {
            device,
            stall,
            hub,
            database,
            ..
        } => {
            let what = match hub {
                true => format!("{device}, a hub"),
                false => format!("{device}, a till of stall {stall}"),
            };
            Done::new("add-device", what).map(|done| done.on(database))
        }
        HqCommand::RevokeDevice { device, database } => {
            Done::new("revoke-device", device).map(|done| done.on(database))
        }
        HqCommand::ScreenLink(a) => match (&a.revoke, a.list) {
            (Some(id), _) => Done::new("screen-link revoke", id),
            // Written with the new link's id once issued.
            (None, false) => Done::new("screen-link", &a.label).map(Done::only_failed),
            (None, true) => None,
        },
        HqCommand::Enroll { hq, again, .. } => {
            let again = if *again { " again" } else { "" };
            Done::new("enroll", format!("with {hq}{again}"))
        }
        HqCommand::Bundle(HqBundleCommand::Import { file: f, .. }) => {
            Done::new("bundle import", file(f))
        }
        HqCommand::Backup(c) => Done::new("backup", file(&c.file)),
        HqCommand::Restore(c) => Done::new("restore", file(&c.file)),
        HqCommand::Statements(StatementsCommand::Import {
            file: f,
            provider,
            stall,
            ..
        }) => Done::new(
            "statements import",
            format!("{}, {provider}, stall {stall}", file(f)),
        ),
        HqCommand::Statements(StatementsCommand::Remove { file, .. }) => {
            Done::new("statements remove", crate::untrusted::shown(file))
        }
        HqCommand::Statements(StatementsCommand::Match { .. }) => None,
        // Written with the till, the shift and its last sale once verified.
        HqCommand::Slip(SlipCommand::Verify { image, .. }) => {
            Done::new("slip verify", slip_given(image.as_deref())).map(Done::only_failed)
        }
        HqCommand::Postgres(PostgresCommand::Migrate { db, dry_run: false }) => {
            let shown = fairpos_postgres::shown_address(&db.database);
            Done::new("postgres migrate", shown).map(|done| done.on(&Some(db.database.clone())))
        }
        // It changes nothing.
        HqCommand::Postgres(PostgresCommand::Migrate { dry_run: true, .. }) => None,
        HqCommand::Postgres(PostgresCommand::CopyDocuments(db)) => {
            let shown = fairpos_postgres::shown_address(&db.database);
            let done = Done::new("postgres copy-documents", shown);
            done.map(|done| done.on(&Some(db.database.clone())))
        }
        HqCommand::Postgres(PostgresCommand::Project { .. } | PostgresCommand::Report { .. }) => {
            None
        }
        HqCommand::Audit(AuditArgs {
            prune: Some(AuditCommand::Prune(p)),
            ..
        }) if !p.dry_run => {
            let day = match (p.before, p.keep_months) {
                (Some(day), _) => format!("before {day}"),
                (None, Some(months)) => format!("keeping {months} months"),
                (None, None) => String::new(),
            };
            let to = match (&p.archive, &p.archive_dir) {
                (Some(to), _) => file(to),
                (None, Some(folder)) => format!("folder {}", file(folder)),
                (None, None) => String::new(),
            };
            Done::new(prune::ACTION, format!("{day} to {to}")).map(Done::only_failed)
        }
        HqCommand::Serve(_)
        | HqCommand::Devices(_)
        | HqCommand::Sales(_)
        | HqCommand::Report(_)
        | HqCommand::Events(_)
        | HqCommand::Audit(_)
        | HqCommand::Reconcile(_)
        | HqCommand::Leaderboard(_)
        | HqCommand::Unit { .. } => None,
    }
}

/// The entry for `hq user …`.
fn done_to_an_account(command: &UserCommand) -> Option<Done> {
    match command {
        UserCommand::Add {
            name,
            role,
            stall,
            unit,
            ..
        } => {
            let scope = match (stall, unit) {
                (Some(stall), _) => format!(" of stall {stall}"),
                (None, Some(unit)) => format!(" of unit {unit}"),
                (None, None) => String::new(),
            };
            Done::new("user add", format!("{name}, {role}{scope}"))
        }
        UserCommand::Passwd { name, .. } => Done::new("user passwd", name),
        UserCommand::Remove { name } => Done::new("user remove", name),
        UserCommand::List(_) => None,
    }
}

/// What `hq slip verify` was given, as its entry says: a photo's file, or the text.
pub fn slip_given(image: Option<&Path>) -> String {
    match image {
        Some(image) => format!("image {}", image.display()),
        None => "its text".to_string(),
    }
}

/// Writes the entry of a command that succeeded, written by the command itself with what
/// came of it (`detail`) rather than by [`record`] with what it was given
/// ([`Done::only_failed`]).
pub fn record_outcome(dir: &Path, action: &'static str, detail: String) {
    let done = Done {
        action,
        detail,
        only_failed: false,
        database: None,
    };
    record(dir, done, None);
}

/// Writes `done` to the audit log of the headquarters in `dir` (its database's, on
/// PostgreSQL), by the system user running this, with why it `failed` if it did (the first
/// line of the error). A failed command is written only where there is a headquarters to
/// write to: on PostgreSQL, to the database as it is (not migrated, and not when it was the
/// database that could not be reached); on SQLite, opened as every command opens it. The command has taken effect, or failed, already: a failure
/// to write is said after a command that succeeded, not made the command's.
pub fn record(dir: &Path, done: Done, failed: Option<&Error>) {
    if failed.is_some_and(Error::is_database_unreachable) || (failed.is_none() && done.only_failed)
    {
        return;
    }
    let actor = audit::system_user();
    let address = audit::system_user_address();
    let mut detail = done.detail;
    if let Some(e) = failed {
        let why = e.to_string();
        let why = why.lines().next().unwrap_or_default();
        detail = match detail.is_empty() {
            true => format!("failed: {why}"),
            false => format!("{detail} — failed: {why}"),
        };
    }
    let action = done.action;
    let recorded = match log_of(dir, done.database) {
        Ok(Log::Postgres(url)) => {
            let write = |pool| async move {
                let (actor, address, detail) = (&actor, &address, &detail);
                let pool = &pool;
                Ok(fairpos_postgres::audit::record(pool, actor, address, action, detail).await?)
            };
            match failed {
                None => with_pool(&url, write),
                Some(_) => with_pool_as_it_is(&url, write),
            }
        }
        Ok(Log::Sqlite(hq)) => audit::record(&hq.conn, &actor, &address, action, &detail),
        Ok(Log::None) => Ok(()),
        Err(e) => Err(e),
    };
    if let (Err(e), None) = (recorded, failed) {
        eprintln!("warning: done, but not written to the audit log: {e}");
    }
}

/// Where a headquarters keeps its audit log.
enum Log {
    /// In this PostgreSQL database.
    Postgres(String),
    /// In its data directory's SQLite database, opened.
    Sqlite(Box<Hq>),
    /// Nowhere: the data directory was never set up.
    None,
}

/// Where the headquarters in `dir` keeps its log: in the database `given`, else the one
/// the data directory names, else its own.
fn log_of(dir: &Path, given: Option<String>) -> Result<Log> {
    if let Some(url) = given {
        return Ok(Log::Postgres(url));
    }
    if !dir.join(crate::HQ_DB).exists() {
        return Ok(Log::None);
    }
    let hq = Hq::open(dir)?;
    Ok(match crate::meta(&hq.conn, crate::META_DATABASE)? {
        Some(url) => Log::Postgres(url),
        None => Log::Sqlite(Box::new(hq)),
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: HqCommand,
    }

    /// The action `fairpos hq ARGS…` is written down as, if any.
    fn action(args: &str) -> Option<&'static str> {
        let cli = Cli::try_parse_from(["hq"].into_iter().chain(args.split(' '))).unwrap();
        done_by(&cli.command).map(|done| done.action)
    }

    #[test]
    fn commands_run_to_change_headquarters_are_written_down_and_those_that_read_are_not() {
        let url = "--database postgres://hq:secret@db/fairpos";
        let written = [
            ("init --demo", "init"),
            ("catalog import c.csv", "catalog import"),
            ("catalog recover b.json", "catalog recover"),
            ("stalls import s.csv", "stalls import"),
            ("sellers import s.csv", "sellers import"),
            ("units import u.csv", "units import"),
            ("end-sessions", "end-sessions"),
            ("user add a --role organizer", "user add"),
            ("user passwd a", "user passwd"),
            ("user remove a", "user remove"),
            ("add-device --device T01 --stall S01", "add-device"),
            ("revoke-device T01", "revoke-device"),
            ("screen-link", "screen-link"),
            ("screen-link --revoke abc", "screen-link revoke"),
            ("enroll --hq https://hq --code C", "enroll"),
            ("bundle import b.json", "bundle import"),
            ("backup b.db", "backup"),
            ("restore b.db", "restore"),
            (
                "statements import f.csv --provider wechat --stall S01",
                "statements import",
            ),
            ("slip verify FPS1", "slip verify"),
            (
                "audit prune --before 2025-01-01 --archive a.jsonl",
                "audit prune",
            ),
            (
                "audit prune --keep-months 12 --archive-dir archives",
                "audit prune",
            ),
            (&format!("postgres migrate {url}"), "postgres migrate"),
            (
                &format!("postgres copy-documents {url}"),
                "postgres copy-documents",
            ),
        ];
        for (args, expected) in written {
            assert_eq!(action(args), Some(expected), "{args}");
        }
        let read_only = [
            "serve".to_string(),
            "devices".into(),
            "sales".into(),
            "report --by stall".into(),
            "events".into(),
            "audit".into(),
            "reconcile".into(),
            "leaderboard".into(),
            "unit 91430000MA4L0000X1".into(),
            "statements match".into(),
            "user list".into(),
            "screen-link --list".into(),
            "catalog recover --dry-run b.json".into(),
            "audit prune --before 2025-01-01 --dry-run".into(),
            "audit verify --archive a.jsonl --holds 00ff".into(),
            format!("postgres project {url}"),
            format!("postgres report {url} --by stall"),
        ];
        for args in &read_only {
            assert_eq!(action(args), None, "{args}");
        }
    }

    #[test]
    fn what_a_command_is_written_down_with_holds_no_password_or_code() {
        let cli = Cli::try_parse_from([
            "hq",
            "init",
            "--demo",
            "--organizer-password",
            "first-pw-1",
            "--database",
            "postgres://hq:db-secret@db/fairpos",
        ])
        .unwrap();
        let done = done_by(&cli.command).unwrap();
        assert_eq!(done.detail, "the demo fair on postgres://hq:***@db/fairpos");
        let cli = Cli::try_parse_from(["hq", "enroll", "--hq", "https://hq", "--code", "AB-CD"]);
        let done = done_by(&cli.unwrap().command).unwrap();
        assert_eq!(done.detail, "with https://hq");
        let add = [
            "hq",
            "user",
            "add",
            "a",
            "--role",
            "stall-lead",
            "--stall",
            "S01",
        ];
        let cli = Cli::try_parse_from(add.into_iter().chain(["--password", "lead-pw-1"]));
        let done = done_by(&cli.unwrap().command).unwrap();
        assert_eq!(done.detail, "a, stall-lead of stall S01");
    }
}
