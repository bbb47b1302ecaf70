//! Who may log in to the dashboard, and what each sees: an organizer sees everything; a
//! stall lead their stall's sales, shifts and cash-up; a purchasing unit only its own
//! itemised list and its downloads. A password per account (Argon2; servers check it off
//! the async workers). The single organizer password of older data directories becomes the
//! first organizer account, [`FIRST_ORGANIZER`].

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::{meta, now_text, untrusted, Error, Result};

/// The account `hq init --organizer-password` makes, and the one a login without a name
/// means.
pub const FIRST_ORGANIZER: &str = "organizer";

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('organizer', 'stall-lead', 'unit')),
    scope         TEXT,                 -- the stall or the unit's credit code
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;
";

/// What an account may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    Organizer,
    /// The lead of this stall.
    StallLead(String),
    /// The purchasing unit of this unified social credit code.
    Unit(String),
}

impl Access {
    /// From `--role` and its `--stall` or `--unit`.
    pub fn parse(role: &str, stall: Option<&str>, unit: Option<&str>) -> Result<Access> {
        match (role, stall, unit) {
            ("organizer", None, None) => Ok(Access::Organizer),
            ("stall-lead", Some(s), None) => Ok(Access::StallLead(s.to_string())),
            // As units are kept: checked, in upper case (a code typed in lower case was
            // told "no purchasing unit").
            ("unit", None, Some(u)) => fairpos_domain::codes::parse_credit_code(u)
                .map(Access::Unit)
                .map_err(|e| Error::input(e.to_string())),
            ("organizer", ..) => Err(Error::input(
                "an organizer sees every stall and unit: give neither --stall nor --unit",
            )),
            ("stall-lead", ..) => Err(Error::input(
                "a stall lead needs --stall STALL (and no --unit)",
            )),
            ("unit", ..) => Err(Error::input(
                "a unit's login needs --unit CREDIT_CODE (and no --stall)",
            )),
            (other, ..) => Err(Error::input(format!(
                "no role {other:?}: organizer, stall-lead or unit"
            ))),
        }
    }

    pub(crate) fn from_row(role: &str, scope: Option<String>) -> Result<Access> {
        match (role, scope) {
            ("organizer", _) => Ok(Access::Organizer),
            ("stall-lead", Some(s)) => Ok(Access::StallLead(s)),
            ("unit", Some(u)) => Ok(Access::Unit(u)),
            (role, _) => Err(Error::Integrity(format!("an account's role {role:?}"))),
        }
    }

    pub fn role(&self) -> &'static str {
        match self {
            Access::Organizer => "organizer",
            Access::StallLead(_) => "stall-lead",
            Access::Unit(_) => "unit",
        }
    }

    pub fn scope(&self) -> Option<&str> {
        match self {
            Access::Organizer => None,
            Access::StallLead(s) | Access::Unit(s) => Some(s),
        }
    }

    pub fn is_organizer(&self) -> bool {
        *self == Access::Organizer
    }

    /// Whether the itemised list of unit `code` is this account's to see.
    pub fn may_see_unit(&self, code: &str) -> bool {
        match self {
            Access::Organizer => true,
            Access::Unit(own) => own == code,
            Access::StallLead(_) => false,
        }
    }

    /// The first page of this account's dashboard.
    pub fn home(&self) -> String {
        match self {
            Access::Organizer => "/".into(),
            Access::StallLead(_) => "/stalls".into(),
            Access::Unit(code) => format!("/units/{code}"),
        }
    }
}

/// A logged-in account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub access: Access,
}

/// An account as `hq user list` shows it.
#[derive(Debug, Serialize)]
pub struct Listed {
    pub name: String,
    pub role: String,
    pub scope: Option<String>,
    pub created_at: String,
    /// Sessions open now (expired ones included until they are next presented).
    pub sessions: i64,
}

/// Creates the table; turns an older directory's single organizer password into the first
/// organizer account.
pub(crate) fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(SCHEMA)?;
    if let Some(hash) = meta(conn, "organizer_password_hash")? {
        let tx = conn.unchecked_transaction()?;
        insert_first_organizer(&tx, &hash)?;
        tx.execute("DELETE FROM meta WHERE key = 'organizer_password_hash'", [])?;
        tx.commit()?;
    }
    Ok(())
}

/// The first organizer account, with a password hashed already.
pub(crate) fn insert_first_organizer(conn: &Connection, hash: &str) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO accounts(name, role, scope, password_hash, created_at)
         VALUES (?1, 'organizer', NULL, ?2, ?3)",
        params![FIRST_ORGANIZER, hash, now_text()],
    )?;
    Ok(())
}

/// The account a login asks for: the name given, trimmed; the first organizer when none is
/// given; a stand-in that names no account when the name could not be one (so the
/// throttle keeps one count for all such names, not one per name).
pub fn login_name(given: &str) -> String {
    match given.trim() {
        "" => FIRST_ORGANIZER.to_string(),
        name if check_name(name).is_ok() => name.to_string(),
        _ => " not a name".to_string(),
    }
}

/// A name to log in with: 1 to 64 characters, no spaces, control or format characters (a
/// zero-width space would make a name that looks like another).
fn check_name(name: &str) -> Result<()> {
    let fine = !name.is_empty()
        && name.chars().count() <= 64
        && !name
            .chars()
            .any(|c| c.is_whitespace() || untrusted::is_hidden(c));
    if fine {
        Ok(())
    } else {
        Err(Error::input(format!(
            "\"{}\" cannot be an account name: 1 to 64 characters, no spaces or invisible \
             characters",
            untrusted::shown_cut(name, 64)
        )))
    }
}

/// Refuses a new account `name` that looks like one of the `held` names: the same but for
/// letter case or full-width forms (`Admin`, `ａｄｍｉｎ` beside `admin`), which a stall lead
/// could be given to pass for an organizer.
pub fn check_unlike<'h>(name: &str, held: impl IntoIterator<Item = &'h str>) -> Result<()> {
    let folded = |name: &str| -> String {
        name.chars()
            .map(|c| match c {
                '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
                _ => c,
            })
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = folded(name);
    match held.into_iter().find(|h| *h != name && folded(h) == wanted) {
        Some(like) => Err(Error::input(format!(
            "{name} looks like the account {like}: choose a name that differs by more than \
             letter case or full-width forms"
        ))),
        None => Ok(()),
    }
}

/// Adds an account. A stall lead's stall and a unit's code must be known to the fair.
pub fn add(conn: &Connection, name: &str, access: &Access, password: &str) -> Result<()> {
    check_new(conn, name, access)?;
    let hash = hash_password(password)?;
    let added = conn.execute(
        "INSERT OR IGNORE INTO accounts(name, role, scope, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, access.role(), access.scope(), hash, now_text()],
    )?;
    if added == 0 {
        return Err(already(name));
    }
    Ok(())
}

/// Why there cannot be an account `name` of `access` in this fair (its stall or unit read
/// from the fair's catalog in `conn`), if there cannot.
pub(crate) fn check_new(conn: &Connection, name: &str, access: &Access) -> Result<()> {
    check_name(name)?;
    let known =
        |sql: &str, key: &str| -> Result<bool> { Ok(conn.query_row(sql, [key], |r| r.get(0))?) };
    match access {
        Access::StallLead(stall) if !fairpos_projection::catalog::has_stall(conn, stall)? => {
            return Err(Error::input(format!("no stall {stall} in this fair")));
        }
        Access::Unit(code)
            if !known("SELECT EXISTS(SELECT 1 FROM units WHERE tax_id = ?1)", code)? =>
        {
            return Err(Error::input(format!(
                "no purchasing unit {code} in this fair: import it with `hq units import`"
            )));
        }
        _ => {}
    }
    Ok(())
}

pub(crate) fn already(name: &str) -> Error {
    Error::input(format!("there is an account {name} already"))
}

/// Every account, by name.
pub fn list(conn: &Connection) -> Result<Vec<Listed>> {
    let mut stmt = conn.prepare(
        "SELECT a.name, a.role, a.scope, a.created_at,
                (SELECT COUNT(*) FROM sessions s WHERE s.account = a.name)
         FROM accounts a ORDER BY a.name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Listed {
            name: r.get(0)?,
            role: r.get(1)?,
            scope: r.get(2)?,
            created_at: r.get(3)?,
            sessions: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Gives `name` a new password and ends its sessions: how many ended.
pub fn set_password(conn: &Connection, name: &str, password: &str) -> Result<usize> {
    let hash = hash_password(password)?;
    let tx = conn.unchecked_transaction()?;
    let n = tx.execute(
        "UPDATE accounts SET password_hash = ?2 WHERE name = ?1",
        params![name, hash],
    )?;
    if n == 0 {
        return Err(no_account(name));
    }
    let ended = tx.execute("DELETE FROM sessions WHERE account = ?1", [name])?;
    tx.commit()?;
    Ok(ended)
}

/// Removes `name` and ends its sessions; the last organizer stays.
pub fn remove(conn: &mut Connection, name: &str) -> Result<()> {
    // Immediate: two removals at once cannot both see another organizer left.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let access = access_of(&tx, name)?.ok_or_else(|| no_account(name))?;
    if access.is_organizer() {
        let organizers: i64 = tx.query_row(
            "SELECT COUNT(*) FROM accounts WHERE role = 'organizer'",
            [],
            |r| r.get(0),
        )?;
        if organizers == 1 {
            return Err(Error::input(format!(
                "{name} is the last organizer: add another before removing it"
            )));
        }
    }
    tx.execute("DELETE FROM sessions WHERE account = ?1", [name])?;
    tx.execute("DELETE FROM accounts WHERE name = ?1", [name])?;
    tx.commit()?;
    Ok(())
}

pub(crate) fn no_account(name: &str) -> Error {
    Error::input(format!("no account {name}"))
}

/// What `name` may see, if there is such an account.
pub fn access_of(conn: &Connection, name: &str) -> Result<Option<Access>> {
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT role, scope FROM accounts WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(role, scope)| Access::from_row(&role, scope))
        .transpose()
}

/// What `name` may see and its stored password hash, if there is such an account: what a
/// login checks.
pub fn credentials(conn: &Connection, name: &str) -> Result<Option<(Access, String)>> {
    let row: Option<(String, Option<String>, String)> = conn
        .query_row(
            "SELECT role, scope, password_hash FROM accounts WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    row.map(|(role, scope, hash)| Ok((Access::from_row(&role, scope)?, hash)))
        .transpose()
}

/// Argon2 of a new password, which needs at least 8 characters.
pub(crate) fn hash_password(password: &str) -> Result<String> {
    check_password_rule(password)?;
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| Error::Other(format!("cannot make a salt: {e}")))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Other(format!("cannot hash the password: {e}")))?
        .to_string())
}

/// Why `password` cannot be a new password, if it cannot: it needs at least 8 characters.
pub(crate) fn check_password_rule(password: &str) -> Result<()> {
    if password.chars().count() < 8 {
        return Err(Error::input("a password needs at least 8 characters"));
    }
    Ok(())
}

/// A hash of no one's password, checked against when the name is unknown so that a wrong
/// name takes as long as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let random = fairpos_sync::keys::new_secret();
        hash_password(&random).unwrap_or_default()
    })
}

/// Checks `password` against `stored` (tens of milliseconds of CPU: servers call it off the
/// async workers and without the database lock).
pub fn verify_password(stored: &str, password: &str) -> Result<()> {
    let hash = PasswordHash::new(stored)
        .map_err(|e| Error::Integrity(format!("the stored password: {e}")))?;
    Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .map_err(|_| Error::input("wrong name or password"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_take_exactly_their_scope() {
        assert_eq!(
            Access::parse("organizer", None, None).unwrap(),
            Access::Organizer
        );
        assert_eq!(
            Access::parse("stall-lead", Some("S02"), None).unwrap(),
            Access::StallLead("S02".into())
        );
        assert!(Access::parse("stall-lead", None, None).is_err());
        assert!(Access::parse("unit", Some("S02"), Some("X")).is_err());
        assert!(Access::parse("organizer", Some("S02"), None).is_err());
        assert!(Access::parse("admin", None, None).is_err());
        assert_eq!(Access::Unit("91X".into()).home(), "/units/91X");
        assert_eq!(login_name("  "), FIRST_ORGANIZER);
        assert_eq!(login_name(" lead "), "lead");
        assert!(check_name(&login_name(&"x".repeat(5000))).is_err());
    }

    #[test]
    fn the_single_organizer_password_of_an_older_directory_becomes_the_first_account() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(fairpos_projection::schema::META)
            .unwrap();
        let hash = hash_password("old-organizer-pw").unwrap();
        crate::set_meta(&conn, "organizer_password_hash", &hash).unwrap();
        migrate(&conn).unwrap();
        migrate(&conn).unwrap();
        let (access, stored) = credentials(&conn, FIRST_ORGANIZER).unwrap().unwrap();
        assert_eq!(access, Access::Organizer);
        verify_password(&stored, "old-organizer-pw").unwrap();
        assert!(verify_password(&stored, "another-pw").is_err());
        assert_eq!(meta(&conn, "organizer_password_hash").unwrap(), None);
    }

    #[test]
    fn names_are_short_and_without_spaces() {
        let held = ["admin", "lead-s02"];
        assert!(check_unlike("lead-s03", held).is_ok());
        assert!(
            check_unlike("admin", held).is_ok(),
            "the same name is `already`'s"
        );
        for like in ["Admin", "ＡＤＭＩＮ", "ａｄｍｉｎ", "LEAD-S02"] {
            let refused = check_unlike(like, held).unwrap_err().to_string();
            assert!(
                refused.contains("looks like the account"),
                "{like}: {refused}"
            );
        }
        for hidden in ["ad\u{200b}min", "\u{202e}nimda", "admin\u{feff}"] {
            let refused = check_name(hidden).unwrap_err().to_string();
            assert!(refused.contains("\\u{"), "written out: {refused}");
        }
        let long = check_name(&"x".repeat(10_000)).unwrap_err().to_string();
        assert!(long.len() < 200, "not echoed whole: {long}");
        assert!(check_name("lead-s02").is_ok());
        assert!(check_name("张三").is_ok());
        for bad in ["", "a b", "tab\there", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
