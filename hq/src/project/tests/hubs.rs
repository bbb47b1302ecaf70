//! Ledgers a hub announces for a till.

use super::*;

/// A hub whose uplink was down when a till was revoked relays the till's ledgers of since:
/// each new one is refused, and said (in the log; through the hub, to the till); a ledger
/// headquarters registered before the revocation is not marked so.
#[test]
fn a_revoked_tills_new_ledger_a_hub_relays_is_refused_and_said() {
    let fixture = Fixture::new(&ActorId::random());
    let conn = &fixture.hq.conn;
    // T01 enrolled, as a till syncing is; T02 added again and not enrolled yet (shut out,
    // not revoked: its ledgers a hub relays are taken).
    conn.execute_batch(
        "UPDATE devices SET secret_hash = 'h' WHERE device = 'T01';
         INSERT INTO devices(device, stall, role) VALUES ('H1', '', 'hub'), ('T02', 'S02', 'till');",
    )
    .unwrap();
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
    let fair = fixture.hq.fair.id.clone();
    // Not revoked: taken.
    let before = [key_of("2026-11-21")];
    assert_eq!(announce(conn, &hub, &fair, &before, &limits).unwrap(), None);
    let t02 = LedgerId {
        fair: fair.clone(),
        device: "T02".into(),
        day: "2026-11-23".into(),
    }
    .key();
    assert_eq!(
        announce(conn, &hub, &fair, std::slice::from_ref(&t02), &limits).unwrap(),
        None
    );
    crate::devices::revoke(conn, "T01").unwrap();
    let keys = [key_of("2026-11-22"), key_of("2026-11-23")];
    assert_eq!(announce(conn, &hub, &fair, &keys, &limits).unwrap(), None);
    let refused = |key: &str| -> Option<String> {
        conn.query_row(
            "SELECT refused FROM hq_docs WHERE doc_key = ?1",
            [key],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(refused(&before[0]), None);
    assert_eq!(refused(&t02), None, "added again, not revoked");
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
    // The ledger registered before: not marked, said in the log.
    assert_eq!(logged, 2);
    let said: String = conn
        .query_row(
            "SELECT detail FROM sync_events WHERE device = 'T01' AND detail LIKE 'its till%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(said.contains("what H1 relays of"), "{said}");
    // Announced again (each new link of the hub): refused once, not refused again.
    assert_eq!(announce(conn, &hub, &fair, &keys, &limits).unwrap(), None);
    assert_eq!(refused(&keys[1]), Some(why));
}
