//! What organizers did after the backup that a restore does not bring back, named so that it
//! is done again: payment statements imported, shift slips verified, devices added. The
//! README said so; the restore itself said nothing of them.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::Connection;

use super::read_only;
use crate::Result;

/// A kind of thing done since, how each is named, and what to do again. `sql` reads each
/// thing's key and name.
struct Since {
    /// What the replaced database holds, by key and name.
    sql: &'static str,
    /// What the backup holds by the same keys, when not `sql`.
    held_sql: Option<&'static str>,
    what: &'static str,
    again: &'static str,
}

const SINCE: [Since; 3] = [
    Since {
        // By content: a bill of the same name imported again since is another file.
        sql: "SELECT sha256, name FROM statement_files",
        held_sql: None,
        what: "payment statements imported",
        again: "import them again (`hq statements import`)",
    },
    Since {
        sql: "SELECT device || ' ' || shift, device || ' ' || substr(shift, 1, 8)
              FROM shift_slips",
        held_sql: None,
        what: "shift slips verified",
        again: "verify them again (`hq slip verify`)",
    },
    Since {
        // Not one revoked since: nothing to add again. One the backup holds, revoked or not,
        // is not added since: one revoked then and enrolled again since is carried over
        // (`super::dashboard`), and adding it again would throw that away.
        sql: "SELECT device, device FROM devices WHERE revoked_at IS NULL",
        held_sql: Some("SELECT device, device FROM devices"),
        what: "devices added",
        again: "their syncs are refused: add them again (`hq add-device`) and enrol each \
                with `enroll --again`",
    },
];

/// One warning for each kind of thing the database `replaced` holds and the backup `copy`
/// lacks, naming them.
pub(super) fn not_brought_back(replaced: &Path, copy: &Path) -> Result<Vec<String>> {
    let (replaced, copy) = (read_only(replaced)?, read_only(copy)?);
    let mut warnings = Vec::new();
    for since in &SINCE {
        let held = names(&copy, since.held_sql.unwrap_or(since.sql))?;
        let mut gone: Vec<String> = names(&replaced, since.sql)?
            .into_iter()
            .filter(|(key, _)| !held.contains_key(key))
            .map(|(_, name)| name)
            .collect();
        // By name, not by key (a statement's is its content's hash).
        gone.sort();
        if gone.is_empty() {
            continue;
        }
        warnings.push(format!(
            "{} {} since the backup are not in it ({}): {}",
            gone.len(),
            since.what,
            listed(&gone),
            since.again
        ));
    }
    Ok(warnings)
}

/// What `sql` names in `conn`, by key; none where its table is missing (a database from
/// before it).
fn names(conn: &Connection, sql: &str) -> Result<BTreeMap<String, String>> {
    let mut stmt = match conn.prepare(sql) {
        Ok(stmt) => stmt,
        Err(e) if e.to_string().contains("no such table") => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.into()),
    };
    let names = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(names.collect::<rusqlite::Result<_>>()?)
}

/// The first ten of `names`, and how many more.
fn listed(names: &[String]) -> String {
    let first: Vec<&str> = names.iter().take(10).map(String::as_str).collect();
    match names.len().saturating_sub(10) {
        0 => first.join(", "),
        more => format!("{} and {more} more", first.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_done_since_the_backup_is_named_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let make = |name: &str, devices: &[&str], files: usize| {
            let path = dir.path().join(name);
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE devices(device TEXT PRIMARY KEY, revoked_at TEXT);
                 CREATE TABLE statement_files(sha256 TEXT, name TEXT);",
            )
            .unwrap();
            for device in devices {
                let revoked = device.strip_suffix('-').map(|_| "2026-11-23");
                let device = device.trim_end_matches('-');
                conn.execute("INSERT INTO devices VALUES (?1, ?2)", (device, revoked))
                    .unwrap();
            }
            for n in 0..files {
                conn.execute(
                    "INSERT INTO statement_files VALUES (?1, ?2)",
                    (format!("{n:064}"), format!("微信账单-{n:02}.csv")),
                )
                .unwrap();
            }
            path
        };
        let backup = make("backup.db", &["T01"], 1);
        // T03 added and revoked since: nothing to add again.
        let replaced = make("replaced.db", &["T01", "T02", "V1", "T03-"], 12);
        let said = not_brought_back(&replaced, &backup).unwrap();
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said[0].starts_with(
                "11 payment statements imported since the backup are not in it (微信账单-01.csv, "
            ) && said[0].contains("微信账单-10.csv and 1 more): import them again"),
            "{said:?}"
        );
        assert!(
            said[1].starts_with("2 devices added since the backup are not in it (T02, V1): "),
            "{said:?}"
        );
        // Nothing done since (the shift slips' table missing on both): nothing said.
        assert_eq!(
            not_brought_back(&backup, &backup).unwrap(),
            Vec::<String>::new()
        );
    }
}
