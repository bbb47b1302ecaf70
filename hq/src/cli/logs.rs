//! What headquarters logged: `hq events` (refusals and other sync events) and `hq audit`
//! (who did what, [`crate::audit`]); and the audit log's entry for each command that changes
//! headquarters, written once the command has succeeded.

use std::path::Path;

use serde::Serialize;

use super::args::{
    HqBundleCommand, HqCatalogCommand, HqCommand, ImportOnly, SlipCommand, StatementsCommand,
    UserCommand,
};
use super::kit::print_json;
use super::postgres::{database_of, with_pool};
use crate::audit;
use crate::{Hq, Result};

#[derive(Serialize)]
struct EventRow {
    at: String,
    device: String,
    kind: String,
    detail: String,
}

/// `hq events`: every sync event, oldest first.
pub fn print_events(dir: &Path, json: bool) -> Result<()> {
    let rows: Vec<EventRow> = match database_of(dir, None)? {
        Some(url) => super::postgres::events(&url)?
            .into_iter()
            .map(|(at, device, kind, detail)| EventRow {
                at,
                device,
                kind,
                detail,
            })
            .collect(),
        None => events_in(&Hq::open(dir)?.conn)?,
    };
    if json {
        return print_json(&rows);
    }
    for r in &rows {
        println!("{} {} {}: {}", r.at, r.device, r.kind, r.detail);
    }
    Ok(())
}

fn events_in(conn: &rusqlite::Connection) -> Result<Vec<EventRow>> {
    let mut stmt = conn.prepare("SELECT at, device, kind, detail FROM sync_events ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(EventRow {
            at: r.get(0)?,
            device: r.get(1)?,
            kind: r.get(2)?,
            detail: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `hq audit`: who did what, oldest first.
pub fn print_audit(dir: &Path, json: bool) -> Result<()> {
    let entries = match database_of(dir, None)? {
        Some(url) => with_pool(&url, |pool| async move {
            Ok(fairpos_postgres::audit::entries(&pool, None).await?)
        })?
        .into_iter()
        .map(audit::from_postgres)
        .collect(),
        None => audit::entries(&Hq::open(dir)?.conn, None)?,
    };
    if json {
        return print_json(&entries);
    }
    for e in &entries {
        let detail = if e.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", e.detail)
        };
        println!(
            "{} {} by {} from {}{detail}",
            e.at, e.action, e.actor, e.address
        );
    }
    Ok(())
}

/// What a command that changes headquarters did, for the audit log.
pub struct Done {
    action: &'static str,
    detail: String,
    /// The database the command named itself (`--database`), which it changed instead of
    /// the data directory's.
    database: Option<String>,
}

impl Done {
    fn new(action: &'static str, detail: impl Into<String>) -> Option<Done> {
        Some(Done {
            action,
            detail: detail.into(),
            database: None,
        })
    }
}

/// The audit log's entry for `command`, if it changes headquarters: its action and what it
/// was given, never a password or a code. `None` for one that only reads or serves.
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
            bundle,
            dry_run: false,
            ..
        }) => Done::new("catalog recover", file(bundle)),
        HqCommand::Stalls(ImportOnly::Import { file: f }) => Done::new("stalls import", file(f)),
        HqCommand::Sellers(ImportOnly::Import { file: f }) => Done::new("sellers import", file(f)),
        HqCommand::Units(ImportOnly::Import { file: f }) => Done::new("units import", file(f)),
        HqCommand::EndSessions => Done::new("end-sessions", ""),
        HqCommand::User(UserCommand::Add {
            name,
            role,
            stall,
            unit,
            ..
        }) => {
            let scope = match (stall, unit) {
                (Some(stall), _) => format!(" of stall {stall}"),
                (None, Some(unit)) => format!(" of unit {unit}"),
                (None, None) => String::new(),
            };
            Done::new("user add", format!("{name}, {role}{scope}"))
        }
        HqCommand::User(UserCommand::Passwd { name, .. }) => Done::new("user passwd", name),
        HqCommand::User(UserCommand::Remove { name }) => Done::new("user remove", name),
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
            let mut done = Done::new("add-device", what)?;
            done.database = database.clone();
            Some(done)
        }
        HqCommand::RevokeDevice { device, database } => {
            let mut done = Done::new("revoke-device", device)?;
            done.database = database.clone();
            Some(done)
        }
        HqCommand::ScreenLink(a) => match &a.revoke {
            Some(id) => Done::new("screen-link revoke", id),
            None if !a.list => Done::new("screen-link", &a.label),
            None => None,
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
        HqCommand::Slip(SlipCommand::Verify { image, .. }) => match image {
            Some(image) => Done::new("slip verify", format!("image {}", file(image))),
            None => Done::new("slip verify", "its text"),
        },
        _ => None,
    }
}

/// Writes `done` to the audit log of the headquarters in `dir` (its database's, on
/// PostgreSQL), by the system user running this. The command has taken effect already: a
/// failure here is said, not made the command's.
pub fn record(dir: &Path, done: Done) {
    let actor = audit::system_user();
    let address = audit::system_user_address();
    let recorded = database_of(dir, done.database.clone()).and_then(|database| match database {
        Some(url) => with_pool(&url, |pool| async move {
            let (actor, address) = (&actor, &address);
            let (action, detail) = (done.action, &done.detail);
            Ok(fairpos_postgres::audit::record(&pool, actor, address, action, detail).await?)
        }),
        None => {
            let hq = Hq::open(dir)?;
            audit::record(&hq.conn, &actor, &address, done.action, &done.detail)
        }
    });
    if let Err(e) = recorded {
        eprintln!("warning: done, but not written to the audit log: {e}");
    }
}
