//! One-time enrolment codes, and a device's enrolment with one: its secret, its actor and
//! its signing key.

use fairpos_domain::DeviceCode;
use fairpos_sync::keys;
use fairpos_sync::protocol::{EnrolledAs, ENROL_RETRY_WINDOW, ROLE_HUB, ROLE_TILL};
use rusqlite::{params, Connection, OptionalExtension};

use crate::{now_text, Error, Hq, Result};

const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// Registers `device` (a till at `stall`, or a hub) and returns a one-time enrolment code.
pub fn add_device(hq: &Hq, device: &str, stall: &str, hub: bool) -> Result<String> {
    DeviceCode::parse(device)?;
    // One transaction, the write lock taken first: a till enrolling with the old code between
    // the check and the new code left it enrolled and a new code standing.
    let tx =
        rusqlite::Transaction::new_unchecked(&hq.conn, rusqlite::TransactionBehavior::Immediate)?;
    let enrolled: Option<Option<String>> = tx
        .query_row(
            "SELECT revoked_at FROM devices WHERE device = ?1 AND enrolled_at IS NOT NULL",
            [device],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(None) = enrolled {
        return Err(enrolled_already(device));
    }
    let role = if hub { ROLE_HUB } else { ROLE_TILL };
    tx.execute(
        "INSERT INTO devices(device, stall, role) VALUES (?1, ?2, ?3)
         ON CONFLICT(device) DO UPDATE SET stall = excluded.stall, role = excluded.role,
             secret_hash = NULL, public_key = NULL, actor = NULL, enrolled_at = NULL,
             revoked_at = NULL",
        params![device, stall, role],
    )?;
    let (code, hash) = new_code();
    // The new code replaces every code of the device before it, used or not: a till's old
    // code must not enrol the device again over its replacement.
    tx.execute("DELETE FROM enroll_codes WHERE device = ?1", [device])?;
    tx.execute(
        "INSERT INTO enroll_codes(code_hash, device, created_at) VALUES (?1, ?2, ?3)",
        params![hash, device, now_text()],
    )?;
    tx.commit()?;
    Ok(code)
}

/// Why a device that took a code is refused it again: past [`ENROL_RETRY_WINDOW`], with
/// another signing key, or revoked since.
pub fn retry_refused() -> Error {
    Error::input(
        "this device took this enrolment code more than half an hour ago, or with another \
         signing key, or was revoked since: ask headquarters to revoke it and give it a new \
         code (hq revoke-device, hq add-device), then enrol with --again",
    )
}

/// Why `device`, enrolled and not revoked, is not given a new code.
pub fn enrolled_already(device: &str) -> Error {
    Error::input(format!(
        "{device} is enrolled already; revoke it first to enrol it again (a new till takes \
         another device code)"
    ))
}

/// A new one-time enrolment code as it is shown (`ABCD-EFGH-JKMN`) and the hash kept of it.
pub fn new_code() -> (String, String) {
    let raw: String = (0..12)
        .map(|_| CODE_ALPHABET[rand::random_range(0..CODE_ALPHABET.len())] as char)
        .collect();
    let shown = format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..]);
    (shown, keys::secret_hash(&raw))
}

/// The hash an enrolment code is kept as, however it was typed.
pub(crate) fn code_hash(code: &str) -> String {
    keys::code_hash(code)
}

/// What enrolment gives a device.
pub struct Grant {
    pub device: String,
    pub stall: String,
    pub role: String,
    pub secret: String,
    /// A retry of an enrolment already made with the code (the till never heard back): no
    /// right guess of a code, so it forgets no failed ones.
    pub retry: bool,
}

/// Refuses a till or hub enrolling `again` as a device of another fair than `fair`.
pub fn check_same_fair(again: Option<&EnrolledAs>, fair: &str) -> Result<()> {
    match again {
        Some(again) if again.fair != fair => Err(Error::input(format!(
            "this device is of fair {}, and this headquarters is fair {fair}",
            crate::untrusted::shown_cut(&again.fair, 64)
        ))),
        _ => Ok(()),
    }
}

/// Why a device enrolling again as `enrolling` is refused a code for `code_for`.
pub fn code_for_another(code_for: &str, enrolling: &str) -> Error {
    Error::input(format!(
        "this code is for {code_for}, not {enrolling}: ask for a code for {enrolling} (the \
         code is still unused)"
    ))
}

/// Refuses a device enrolling as `enrolling_as` (a role) the code of a `code_for`, which
/// stays unused. An older device says nothing, and checks the role in the answer.
pub fn check_role(code_for: &str, enrolling_as: Option<&str>) -> Result<()> {
    match enrolling_as {
        Some(wanted) if wanted != code_for => Err(code_for_role(code_for)),
        _ => Ok(()),
    }
}

/// Why a device of another role is refused a code for a `code_for` (the code unused).
pub fn code_for_role(code_for: &str) -> Error {
    Error::input(if code_for == ROLE_HUB {
        "this code enrols a hub: use it on the hub's server, with `fairpos --data DIR hq enroll \
         --hq URL --code CODE` (the code is still unused)"
    } else {
        "this code enrols a till: use it at the till, with `fairpos enroll` (the code is still \
         unused)"
    })
}

/// Why a new till may not enrol as `device`, whose ledgers headquarters holds: its sale
/// numbers would start again at 1, and its records, taken for the old till's numbers, would
/// be refused (and reconciliation, finding the old till's numbers, would call it complete).
pub fn ledgers_held(device: &str) -> Error {
    Error::input(format!(
        "{device} has ledgers at headquarters already: a new till takes another device code \
         (hq add-device); the till that wrote them enrols with `enroll --again`"
    ))
}

/// Uses `code` for the device writing with `actor`. A code works once; trying again with
/// the same actor and a till's same signing key (a device whose first attempt never heard
/// back) within [`ENROL_RETRY_WINDOW`] of its first use is allowed and issues a new secret,
/// while the device is still enrolled with that actor and not revoked (a revocation and a
/// new code remove the device's codes; this holds for a database from before them).
/// A device enrolling `as_role` is refused a code for the other role ([`check_role`]), and
/// one enrolling again as device `again` a code for another device, the code unused either
/// way; a new till is refused the code of a device whose ledgers are held
/// ([`ledgers_held`]). The device's public key is `signing_key` when it sent one (its own,
/// checked by the caller), else the one its new secret derives.
pub fn enroll(
    conn: &Connection,
    code: &str,
    actor: &str,
    again: Option<&str>,
    as_role: Option<&str>,
    signing_key: Option<&str>,
) -> Result<Grant> {
    if fairpos_sync::ActorId::try_from(actor).is_err() {
        return Err(Error::input("bad actor id"));
    }
    let hash = code_hash(code);
    let window = chrono::TimeDelta::from_std(ENROL_RETRY_WINDOW).unwrap_or_default();
    let retried_since = crate::time_text(chrono::Utc::now() - window);
    let row: Option<(String, Option<String>, bool)> = conn
        .query_row(
            "SELECT device, used_actor, used_at >= ?2 FROM enroll_codes WHERE code_hash = ?1",
            params![hash, retried_since],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get::<_, Option<bool>>(2)?.unwrap_or(false),
                ))
            },
        )
        .optional()?;
    let Some((device, used, used_lately)) = row else {
        return Err(Error::input("unknown enrolment code"));
    };
    type Enrolled = (String, String, Option<String>, Option<String>, bool);
    let (stall, role, enrolled_actor, enrolled_key, revoked): Enrolled = conn.query_row(
        "SELECT stall, role, actor, public_key, revoked_at IS NOT NULL FROM devices
         WHERE device = ?1",
        [&device],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )?;
    // A till's own signing key (a hub signs nothing, and sends none).
    let same_key =
        role == ROLE_HUB || signing_key.is_some_and(|k| Some(k) == enrolled_key.as_deref());
    let retry_of_this_enrolment =
        enrolled_actor.as_deref() == Some(actor) && !revoked && used_lately && same_key;
    match used.as_deref() {
        Some(used) if used != actor => {
            return Err(Error::input("this enrolment code has been used"))
        }
        Some(_) if !retry_of_this_enrolment => return Err(retry_refused()),
        _ => {}
    }
    check_role(&role, as_role)?;
    if let Some(enrolling) = again.filter(|enrolling| *enrolling != device) {
        return Err(code_for_another(&device, enrolling));
    }
    if again.is_none() && used.is_none() {
        let held = "SELECT EXISTS(SELECT 1 FROM hq_docs WHERE device = ?1)";
        if conn.query_row(held, [&device], |r| r.get(0))? {
            return Err(ledgers_held(&device));
        }
    }
    let secret = keys::new_secret();
    let public_key = signing_key.map_or_else(|| keys::public_key(&secret), str::to_string);
    conn.execute(
        "UPDATE devices SET secret_hash = ?2, public_key = ?3, actor = ?4, enrolled_at = ?5,
             revoked_at = NULL WHERE device = ?1",
        params![
            device,
            keys::secret_hash(&secret),
            public_key,
            actor,
            now_text()
        ],
    )?;
    conn.execute(
        "UPDATE enroll_codes SET used_at = COALESCE(used_at, ?2), used_actor = ?3
         WHERE code_hash = ?1",
        params![hash, now_text(), actor],
    )?;
    Ok(Grant {
        device,
        stall,
        role,
        secret,
        retry: used.is_some(),
    })
}
