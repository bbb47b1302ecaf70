//! Ledgers a hub announces for a till.

use super::*;

/// A hub whose uplink was down when a till was revoked relays the till's ledgers of since:
/// each new one is refused, and said (in the log; through the hub, to the till); a ledger
/// headquarters registered before the revocation is not marked so.
#[test]
fn a_revoked_tills_new_ledger_a_hub_relays_is_refused_and_said() {
    let fixture = Fixture::new(&ActorId::random());
    let conn = &fixture.hq.conn;
    conn.execute(
        "INSERT INTO devices(device, stall, role) VALUES ('H1', '', 'hub')",
        [],
    )
    .unwrap();
    crate::devices::revoke(conn, "T01").unwrap();
    let hub = devices::Peer::Hub("H1".into());
    let key_of = |day: &str| {
        LedgerId {
            fair: fixture.hq.fair.id.clone(),
            device: "T01".into(),
            day: day.into(),
        }
        .key()
    };
    let limits = crate::limits::DocumentLimits::default();
    let keys = [key_of("2026-11-22"), key_of("2026-11-23")];
    let fair = fixture.hq.fair.id.clone();
    assert_eq!(announce(conn, &hub, &fair, &keys, &limits).unwrap(), None);
    let refused = |key: &str| -> Option<String> {
        conn.query_row(
            "SELECT refused FROM hq_docs WHERE doc_key = ?1",
            [key],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(refused(&keys[0]), None, "registered before the revocation");
    let why = refused(&keys[1]).expect("refused");
    assert!(
        why.starts_with("T01 was revoked before this ledger reached headquarters (through H1)"),
        "{why}"
    );
    let logged: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sync_events WHERE device = 'T01' AND kind = 'refused'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(logged, 1);
    // Announced again (each new link of the hub): said once.
    assert_eq!(announce(conn, &hub, &fair, &keys, &limits).unwrap(), None);
    assert_eq!(refused(&keys[1]), Some(why));
}
