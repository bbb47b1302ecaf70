//! A restore brings no dashboard session back to life, lets no device revoked since the
//! backup in again, and names the accounts changed since.

use super::*;
use common::api::Api;

#[test]
fn a_session_ended_after_the_backup_stays_ended_and_a_password_changed_since_is_named() {
    let hq = Hq::demo();
    let secret = "treasurer-password-1";
    hq.ok(&[
        "hq",
        "user",
        "add",
        "treasurer",
        "--role",
        "organizer",
        "--password",
        secret,
    ]);
    hq.ok(&["hq", "add-device", "--device", "T09", "--stall", "S02"]);
    let server = hq.serve();
    let api = Api::new(&server.url);
    let token = api.token_of("organizer", PASSWORD).expect("a login");
    assert_eq!(api.fetch("/", Some(&token), false).0, 200);
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("noon.backup");
    hq.ok(&["hq", "backup", backup.to_str().unwrap()]);

    // After the backup: every session ended (a token thought stolen), and the treasurer's
    // password changed.
    hq.ok(&["hq", "end-sessions"]);
    assert_eq!(api.fetch("/", Some(&token), false).0, 401);
    let changed = "treasurer-password-2";
    hq.ok(&["hq", "user", "passwd", "treasurer", "--password", changed]);
    // And a device revoked (a till stolen): the backup holds it unrevoked.
    hq.ok(&["hq", "revoke-device", "T09"]);
    server.stop();

    let said = hq.ok(&["hq", "restore", backup.to_str().unwrap()]);
    assert!(said.contains("dashboard sessions ended: "), "{said}");
    let named = "accounts changed since the backup, as it had them again: treasurer (its \
                 password changed since: the one before back); set them again";
    assert!(said.contains(named), "{said}");
    let revoked = "devices revoked since the backup, which it would let in again, revoked \
                   again: T09";
    assert!(said.contains(revoked), "{said}");
    let devices = hq.ok(&["hq", "devices"]);
    let t09 = devices
        .lines()
        .find(|l| l.starts_with("T09 "))
        .unwrap_or_default();
    assert!(t09.ends_with("revoked"), "{devices}");
    // The token the backup held is refused by the restored headquarters.
    let server = hq.serve();
    let api = Api::new(&server.url);
    assert_eq!(
        api.fetch("/", Some(&token), false).0,
        401,
        "a session lives again"
    );
    assert!(api.token_of("organizer", PASSWORD).is_some());
    server.stop();
}
