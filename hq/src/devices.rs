//! Enrolled devices (tills and hubs), one-time enrolment codes, tokens and dashboard
//! sessions. Headquarters keeps only hashes of secrets, codes and session tokens.

use fairpos_domain::DeviceCode;
use fairpos_sync::keys;
use fairpos_sync::protocol::{split_device_token, EnrolledAs, ROLE_HUB, ROLE_TILL};
use rusqlite::{params, Connection, OptionalExtension};

use crate::accounts::{self, Account};
use crate::sessions::{self, SessionLimits};
use crate::{now_text, Error, Hq, Result};

/// Who a connection or request is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    Till(String),
    Hub(String),
    /// Someone logged in to the dashboard: the session's short id and the account.
    Person {
        session: String,
        account: Account,
    },
}

impl Peer {
    /// The samod peer id a connection must claim.
    pub fn peer_id(&self) -> String {
        match self {
            Peer::Till(d) => format!("device:{d}"),
            Peer::Hub(d) => format!("hub:{d}"),
            Peer::Person { session, account } if account.access.is_organizer() => {
                format!("organizer:{session}")
            }
            Peer::Person { session, .. } => format!("account:{session}"),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Peer::Till(d) | Peer::Hub(d) => d,
            Peer::Person { account, .. } => &account.name,
        }
    }

    /// The account of a dashboard session that may see everything.
    pub fn is_organizer(&self) -> bool {
        matches!(self, Peer::Person { account, .. } if account.access.is_organizer())
    }
}

const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Registers `device` (a till at `stall`, or a hub) and returns a one-time enrolment code.
pub fn add_device(hq: &Hq, device: &str, stall: &str, hub: bool) -> Result<String> {
    DeviceCode::parse(device)?;
    let enrolled: Option<Option<String>> = hq
        .conn
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
    hq.conn.execute(
        "INSERT INTO devices(device, stall, role) VALUES (?1, ?2, ?3)
         ON CONFLICT(device) DO UPDATE SET stall = excluded.stall, role = excluded.role,
             secret_hash = NULL, public_key = NULL, actor = NULL, enrolled_at = NULL,
             revoked_at = NULL",
        params![device, stall, role],
    )?;
    let (code, hash) = new_code();
    // The new code replaces every code of the device before it, used or not: a till's old
    // code must not enrol the device again over its replacement.
    hq.conn
        .execute("DELETE FROM enroll_codes WHERE device = ?1", [device])?;
    hq.conn.execute(
        "INSERT INTO enroll_codes(code_hash, device, created_at) VALUES (?1, ?2, ?3)",
        params![hash, device, now_text()],
    )?;
    Ok(code)
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
    keys::secret_hash(&normalize_code(code))
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
/// the same actor (a till whose first attempt never heard back) is allowed and issues a new
/// secret, while the device is still enrolled with that actor and not revoked (a revocation
/// and a new code remove the device's codes; this holds for a database from before them).
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
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT device, used_actor FROM enroll_codes WHERE code_hash = ?1",
            [&hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((device, used)) = row else {
        return Err(Error::input("unknown enrolment code"));
    };
    let (stall, role, enrolled_actor, revoked): (String, String, Option<String>, bool) = conn
        .query_row(
            "SELECT stall, role, actor, revoked_at IS NOT NULL FROM devices WHERE device = ?1",
            [&device],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
    let retry_of_this_enrolment = enrolled_actor.as_deref() == Some(actor) && !revoked;
    if used
        .as_deref()
        .is_some_and(|used| used != actor || !retry_of_this_enrolment)
    {
        return Err(Error::input("this enrolment code has been used"));
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
        "UPDATE enroll_codes SET used_at = ?2, used_actor = ?3 WHERE code_hash = ?1",
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

/// What a reading connection says of a token: who holds it, or why it is refused.
pub struct Authenticated {
    pub peer: Result<Peer>,
    /// The hash of a dashboard session whose use is worth recording now (at most once a
    /// minute), for [`sessions::record_use`] on the writer after the answer.
    pub use_due: Option<String>,
}

/// Who holds `token`: an enrolled device not revoked, or a dashboard session not expired
/// under `limits` of an account that still exists. Writes nothing, so that organizers' pages
/// and tills' calls are answered on a reading connection beside the writer, which syncing
/// tills keep busy; a session's use is written afterwards, never waited for.
pub fn authenticate(conn: &Connection, token: &str, limits: &SessionLimits) -> Authenticated {
    let answered = |peer| Authenticated {
        peer,
        use_due: None,
    };
    let Some(session) = token.strip_prefix("org.") else {
        return answered(device_of(conn, token));
    };
    let hash = keys::secret_hash(session);
    match sessions::look(conn, &hash, limits) {
        Err(e) => answered(Err(e)),
        Ok(sessions::Looked::Missing | sessions::Looked::Ended) => answered(Err(refused())),
        Ok(sessions::Looked::Live {
            peer,
            account,
            stale,
        }) => {
            let peer = person(conn, peer, account);
            let use_due = (stale && peer.is_ok()).then_some(hash);
            Authenticated { peer, use_due }
        }
    }
}

/// The enrolled device, not revoked, whose token `token` is.
fn device_of(conn: &Connection, token: &str) -> Result<Peer> {
    let (device, secret) = split_device_token(token).ok_or_else(refused)?;
    let row: Option<(String, Option<String>, Option<String>)> = conn
        .query_row(
            "SELECT role, secret_hash, revoked_at FROM devices WHERE device = ?1",
            [device],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let peer = row.and_then(|(role, hash, revoked)| {
        device_peer(device, secret, &role, hash.as_deref(), revoked.is_some())
    });
    peer.ok_or_else(refused)
}

fn refused() -> Error {
    Error::input("unknown, expired or revoked credentials")
}

/// The person a live session of `session` (its peer) and account `name` is, refused when
/// the account is gone.
fn person(conn: &Connection, session: String, name: String) -> Result<Peer> {
    let access = accounts::access_of(conn, &name)?.ok_or_else(refused)?;
    Ok(Peer::Person {
        session,
        account: Account { name, access },
    })
}

/// The device a token of `device` and `secret` names, checked against the device's role,
/// the hash of its secret and whether it is revoked; `None` when the token does not hold.
pub(crate) fn device_peer(
    device: &str,
    secret: &str,
    role: &str,
    secret_hash: Option<&str>,
    revoked: bool,
) -> Option<Peer> {
    if revoked || secret_hash != Some(keys::secret_hash(secret).as_str()) {
        return None;
    }
    Some(if role == ROLE_HUB {
        Peer::Hub(device.to_string())
    } else {
        Peer::Till(device.to_string())
    })
}

/// Shuts a device out: its token stops working and its connections are closed.
pub fn revoke(conn: &Connection, device: &str) -> Result<()> {
    revoke_at(conn, device, &now_text())
}

/// [`revoke`], the revocation dated `at` (a restore making again one made before).
pub fn revoke_at(conn: &Connection, device: &str, at: &str) -> Result<()> {
    // Its codes first: a revoked device's old code must not enrol it again.
    conn.execute("DELETE FROM enroll_codes WHERE device = ?1", [device])?;
    let n = conn.execute(
        "UPDATE devices SET revoked_at = ?2 WHERE device = ?1 AND revoked_at IS NULL",
        params![device, at],
    )?;
    if n == 0 {
        return Err(Error::input(format!("no enrolled device {device}")));
    }
    Ok(())
}

/// Whether `device`'s grants must end, as the database says now: revoked, or added again and
/// not enrolled since (a device never added counts as shut out).
pub fn shut_out(conn: &Connection, device: &str) -> Result<bool> {
    let state = conn
        .query_row(
            "SELECT revoked_at IS NOT NULL OR secret_hash IS NULL FROM devices WHERE device = ?1",
            [device],
            |r| r.get(0),
        )
        .optional()?;
    Ok(state.unwrap_or(true))
}

/// Devices revoked so far, each with which revocation it was: when, and of which enrolment
/// (its secret's hash), so that a device revoked, enrolled again and revoked again within
/// the same second is two revocations to the share policy.
pub fn revoked(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT device, revoked_at || ' ' || ifnull(secret_hash, '') FROM devices
         WHERE revoked_at IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Ends the dashboard session of `token` (nothing happens for any other token).
pub fn logout(conn: &Connection, token: &str) -> Result<()> {
    if let Some(session) = token.strip_prefix("org.") {
        conn.execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            [keys::secret_hash(session)],
        )?;
    }
    Ok(())
}

/// A new dashboard session of `account`, its password checked already: `(token, peer id)`.
pub fn open_session(conn: &Connection, account: &Account) -> Result<(String, String)> {
    let new = NewSession::of(account);
    sessions::open(conn, &new.token_hash, &new.session, &account.name)?;
    Ok((new.token, new.peer_id))
}

/// [`open_session`] for a login that checked the password whose hash is `password_hash`:
/// none if it has changed since (or the account is gone), refused as a wrong password.
pub fn open_checked_session(
    conn: &Connection,
    account: &Account,
    password_hash: &str,
) -> Result<(String, String)> {
    let new = NewSession::of(account);
    let (hash, session) = (&new.token_hash, &new.session);
    if !sessions::open_if_password(conn, hash, session, &account.name, password_hash)? {
        return Err(Error::input("wrong name or password"));
    }
    Ok((new.token, new.peer_id))
}

/// A dashboard session about to be recorded: the token its holder gets, the hash kept of it,
/// its short id and the samod peer id it syncs as.
pub(crate) struct NewSession {
    pub token: String,
    pub token_hash: String,
    pub session: String,
    pub peer_id: String,
}

impl NewSession {
    pub(crate) fn of(account: &Account) -> NewSession {
        let secret = keys::new_secret();
        let token_hash = keys::secret_hash(&secret);
        let session = format!("s{}", &token_hash[..12]);
        let peer = Peer::Person {
            session: session.clone(),
            account: account.clone(),
        };
        NewSession {
            token: format!("org.{secret}"),
            token_hash,
            session,
            peer_id: peer.peer_id(),
        }
    }
}

/// The actor a device writes its ledgers with.
pub fn actor_of(conn: &Connection, device: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT actor FROM devices WHERE device = ?1",
            [device],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

pub fn public_key_of(conn: &Connection, device: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT public_key FROM devices WHERE device = ?1 AND revoked_at IS NULL",
            [device],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Access;
    use crate::Founding;

    #[test]
    fn codes_normalize() {
        assert_eq!(super::normalize_code("abcd-efgh-jk2m"), "ABCDEFGHJK2M");
    }

    #[test]
    fn a_device_revoked_enrolled_and_revoked_again_in_one_second_is_two_revocations() {
        let dir = tempfile::tempdir().unwrap();
        let founding = Founding::Hq {
            organizer_password: "organizer-pw",
        };
        let hq = Hq::init(dir.path(), fairpos_domain::demo::FAIR_TOML, founding).unwrap();
        let revoked_with = |secret: &str| {
            let at = "2026-12-05T10:00:00Z";
            hq.conn
                .execute(
                    "INSERT OR REPLACE INTO devices(device, stall, role, secret_hash, revoked_at)
                     VALUES ('T02', 'S02', 'till', ?1, ?2)",
                    [secret, at],
                )
                .unwrap();
            revoked(&hq.conn).unwrap()
        };
        assert_ne!(revoked_with("first"), revoked_with("second"));
    }

    #[test]
    fn a_login_opens_no_session_once_the_password_it_checked_has_changed() {
        let dir = tempfile::tempdir().unwrap();
        let founding = Founding::Hq {
            organizer_password: "organizer-pw",
        };
        let hq = Hq::init(dir.path(), fairpos_domain::demo::FAIR_TOML, founding).unwrap();
        let organizer = Account {
            name: "organizer".into(),
            access: Access::Organizer,
        };
        let checked = crate::accounts::credentials(&hq.conn, "organizer")
            .unwrap()
            .unwrap()
            .1;
        assert!(open_checked_session(&hq.conn, &organizer, &checked).is_ok());
        // The password changed while the login checked the one before.
        hq.conn
            .execute("UPDATE accounts SET password_hash = 'another'", [])
            .unwrap();
        let late = open_checked_session(&hq.conn, &organizer, &checked);
        assert!(late
            .unwrap_err()
            .to_string()
            .contains("wrong name or password"));
    }

    #[test]
    fn a_reading_connection_answers_live_sessions_and_names_a_use_due_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let hq = Hq::init(
            dir.path(),
            fairpos_domain::demo::FAIR_TOML,
            Founding::Hq {
                organizer_password: "organizer-pw",
            },
        )
        .unwrap();
        let organizer = Account {
            name: "organizer".into(),
            access: Access::Organizer,
        };
        let (token, _) = open_session(&hq.conn, &organizer).unwrap();
        let limits = SessionLimits::default();
        let read = |token: &str| authenticate(&hq.conn, token, &limits);
        let ago =
            |minutes: i64| (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339();

        match read(&token) {
            Authenticated {
                peer: Ok(Peer::Person { account, .. }),
                use_due: None,
            } => assert_eq!(account, organizer),
            _ => panic!("a fresh session is answered by a reader, its use not due"),
        }
        assert!(read("org.unknown").peer.is_err());

        // A use worth recording is answered all the same, and named for the writer, which
        // records it.
        hq.conn
            .execute("UPDATE sessions SET last_seen = ?1", [ago(10)])
            .unwrap();
        let due = read(&token);
        assert!(due.peer.is_ok());
        let hash = keys::secret_hash(token.strip_prefix("org.").unwrap());
        assert_eq!(due.use_due.as_deref(), Some(hash.as_str()));
        sessions::record_use(&hq.conn, &hash, chrono::Utc::now()).unwrap();
        assert!(read(&token).use_due.is_none());

        // An expired session is refused, and left to the sweep, which removes it, writes
        // that in the audit log, and keeps a live one.
        hq.conn
            .execute("UPDATE sessions SET created_at = ?1", [ago(13 * 60)])
            .unwrap();
        assert!(read(&token).peer.is_err());
        let (unused, _) = open_session(&hq.conn, &organizer).unwrap();
        let (live, _) = open_session(&hq.conn, &organizer).unwrap();
        let unused_hash = keys::secret_hash(unused.strip_prefix("org.").unwrap());
        hq.conn
            .execute(
                "UPDATE sessions SET last_seen = ?1 WHERE token_hash = ?2",
                [ago(61), unused_hash.clone()],
            )
            .unwrap();
        assert!(sessions::any_ended(&hq.conn, &limits).unwrap());
        // The unused one's use being written meanwhile, it is left to the next sweep.
        let being_used = std::collections::HashSet::from([unused_hash]);
        assert_eq!(sessions::sweep(&hq.conn, &limits, &being_used).unwrap(), 1);
        let none = std::collections::HashSet::new();
        assert_eq!(sessions::sweep(&hq.conn, &limits, &none).unwrap(), 1);
        assert!(read(&live).peer.is_ok());
        assert!(!sessions::any_ended(&hq.conn, &limits).unwrap());
        assert_eq!(
            sessions::sweep(&hq.conn, &limits, &none).unwrap(),
            0,
            "once"
        );
        let written: Vec<(String, String, String)> = crate::audit::entries(&hq.conn, Some(2))
            .unwrap()
            .into_iter()
            .map(|e| (e.actor, e.action, e.detail))
            .collect();
        let ended = |why: &str| ("organizer".into(), "session ended".into(), why.into());
        assert_eq!(
            written,
            [
                ended("dashboard: 12h after its login"),
                ended("dashboard: unused for 1h")
            ]
        );

        // A till's token is answered by a reader too (refused here: a code is not a secret).
        let code = add_device(&hq, "T01", "S01", false).unwrap();
        assert!(read(&format!("T01.{code}")).peer.is_err());
    }

    #[test]
    fn a_device_is_refused_a_code_for_another_device_role_or_fair_the_code_unused() {
        let dir = tempfile::tempdir().unwrap();
        let demo = fairpos_domain::demo::FAIR_TOML;
        let hq = Hq::init(
            dir.path(),
            demo,
            Founding::Hq {
                organizer_password: "organizer-pw",
            },
        )
        .unwrap();
        let actor = fairpos_sync::ActorId::random().to_hex_string();
        let code = add_device(&hq, "T03", "S03", false).unwrap();
        let refused = enroll(&hq.conn, &code, &actor, Some("T02"), None, None)
            .err()
            .unwrap();
        assert!(refused.is_bad_input());
        assert!(refused
            .to_string()
            .contains("this code is for T03, not T02"));
        // A hub is refused a till's code, and the other way round.
        let refused = enroll(&hq.conn, &code, &actor, None, Some(ROLE_HUB), None);
        let refused = refused.err().unwrap().to_string();
        assert!(refused.starts_with("this code enrols a till"), "{refused}");
        let hub = add_device(&hq, "H01", "", true).unwrap();
        let refused = enroll(&hq.conn, &hub, &actor, None, Some(ROLE_TILL), None);
        let refused = refused.err().unwrap().to_string();
        assert!(refused.starts_with("this code enrols a hub"), "{refused}");
        // Unused: T02 enrolling again with its own code, or T03 with this one, are granted.
        let granted = enroll(&hq.conn, &code, &actor, None, Some(ROLE_TILL), None);
        assert_eq!(granted.unwrap().device, "T03");
        let code = add_device(&hq, "T02", "S02", false).unwrap();
        let granted = enroll(&hq.conn, &code, &actor, Some("T02"), None, None);
        assert_eq!(granted.unwrap().device, "T02");
        let granted = enroll(&hq.conn, &hub, &actor, None, Some(ROLE_HUB), None);
        assert_eq!(granted.unwrap().role, ROLE_HUB);

        let fair = fairpos_domain::fair::Fair::from_toml(demo).unwrap().id;
        let as_till = |fair: &str| EnrolledAs {
            fair: fair.into(),
            device: "T02".into(),
        };
        assert!(check_same_fair(None, &fair).is_ok());
        assert!(check_same_fair(Some(&as_till(&fair)), &fair).is_ok());
        let other = check_same_fair(Some(&as_till("other-fair")), &fair).unwrap_err();
        assert!(other.to_string().contains("of fair other-fair"), "{other}");
    }
}
