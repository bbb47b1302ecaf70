//! The device registry's tests.

use super::*;
use crate::accounts::Access;
use crate::sessions::{self, SessionLimits};
use crate::Founding;
use crate::Hq;
use fairpos_sync::keys;
use fairpos_sync::protocol::{EnrolledAs, ROLE_HUB, ROLE_TILL};

#[test]
fn codes_normalize() {
    assert_eq!(
        code_hash("abcd-efgh-jk2m"),
        keys::secret_hash("ABCDEFGHJK2M")
    );
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
    let ago = |minutes: i64| (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339();

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

/// A used code is taken again only by the device that used it, with its actor and signing
/// key, within half an hour of its first use: after it (a slip found, the till's actor read
/// from any ledger change) it takes no till's place, nor swaps its signing key.
#[test]
fn a_used_code_is_taken_again_only_by_its_device_soon_after() {
    let dir = tempfile::tempdir().unwrap();
    let founding = Founding::Hq {
        organizer_password: "organizer-pw",
    };
    let hq = Hq::init(dir.path(), fairpos_domain::demo::FAIR_TOML, founding).unwrap();
    let actor = fairpos_sync::ActorId::random().to_hex_string();
    let key = keys::public_key(&keys::new_secret());
    let other_key = keys::public_key(&keys::new_secret());
    let code = add_device(&hq, "T02", "S02", false).unwrap();
    let take = |key: Option<&str>| enroll(&hq.conn, &code, &actor, None, None, key);
    assert!(!take(Some(&key)).unwrap().retry);
    assert!(take(Some(&key)).unwrap().retry, "the till's own retry");
    let refused = retry_refused().to_string();
    let used = |e: Result<Grant>| e.err().unwrap().to_string();
    assert_eq!(used(take(Some(&other_key))), refused);
    assert_eq!(used(take(None)), refused);
    let other_actor = fairpos_sync::ActorId::random().to_hex_string();
    let by_another = enroll(&hq.conn, &code, &other_actor, None, None, Some(&key));
    assert_eq!(used(by_another), "this enrolment code has been used");
    let kept: String = hq
        .conn
        .query_row(
            "SELECT public_key FROM devices WHERE device = 'T02'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, key);
    // A hub signs nothing and sends no key: its retry is its actor's.
    let hub = add_device(&hq, "H01", "", true).unwrap();
    let take_hub = || enroll(&hq.conn, &hub, &actor, None, Some(ROLE_HUB), None);
    assert!(!take_hub().unwrap().retry);
    assert!(take_hub().unwrap().retry, "the hub's own retry");
    // Half an hour after its first use (a retry does not move it), not even the till.
    let moved_back = |minutes: i64| {
        let sql = format!(
            "UPDATE enroll_codes SET used_at = strftime('%Y-%m-%dT%H:%M:%SZ', used_at, \
             '-{minutes} minutes')"
        );
        hq.conn.execute(&sql, []).unwrap();
    };
    moved_back(29);
    assert!(
        take(Some(&key)).unwrap().retry,
        "still within the half hour"
    );
    moved_back(2);
    assert_eq!(used(take(Some(&key))), refused);
}
