//! An enrolled till's ledger checked against its actor, and its heads held.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolled_tills_ledger_is_checked_against_its_actor_and_its_heads_are_held() {
    use fairpos_postgres::registry::{self, Enrolling, Enrolment};
    use fairpos_sync::ledger::heads_text;
    let Some(server) = server() else { return };
    let (_, a, b) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(21), 1)[0];
    let (earlier, last) = ledger.records.split_at(ledger.records.len() - 1);
    let mut doc = ledger_doc(ledger, earlier);
    let id = document_id(&doc.id().key());
    let shown = id.to_string();
    let actor = doc.automerge().get_actor().to_hex_string();

    // T1 is enrolled with another actor than the one that wrote the ledger it announces.
    assert!(registry::add_device(&a, "T1", "S1", "till", "code")
        .await
        .unwrap());
    let other_actor = ActorId::random().to_hex_string();
    // A till enrolling again as another device is refused this code, which stays unused.
    let enrolling = |again, role| Enrolling {
        code_hash: "code",
        actor: &other_actor,
        again,
        role,
    };
    let refused = registry::enroll(&a, &enrolling(Some("T2"), None), "secret", "key")
        .await
        .unwrap();
    assert_eq!(
        refused,
        Enrolment::OtherDevice {
            code_for: "T1".into(),
            enrolling: "T2".into()
        }
    );
    // So is a hub, the till's code kept.
    let refused = registry::enroll(&a, &enrolling(None, Some("hub")), "secret", "key")
        .await
        .unwrap();
    assert_eq!(refused, Enrolment::OtherRole("till".into()));
    let granted = registry::enroll(&a, &enrolling(Some("T1"), Some("till")), "secret", "key")
        .await
        .unwrap();
    assert!(matches!(granted, Enrolment::Granted { ref device, .. } if device == "T1"));
    let announced = [(doc.id().key(), shown.clone(), "T1".to_string())];
    assert_eq!(registry::announce(&a, &announced, 1).await.unwrap(), None);
    // One ledger more than T1 may hold is not announced; announcing a held one again is.
    let next_day = doc.id().key().replace("2026-11-22", "2026-11-23");
    let more = [(
        next_day.clone(),
        document_id(&next_day).to_string(),
        "T1".to_string(),
    )];
    let refused = registry::announce(&a, &more, 1).await.unwrap();
    assert_eq!(refused, Some(("T1".to_string(), 2)));
    assert_eq!(registry::announce(&a, &announced, 1).await.unwrap(), None);
    assert_eq!(registry::documents(&a, Some("T1")).await.unwrap().len(), 1);
    store_whole(&a, &doc).await;

    // Refused whole, the refusal held for the till's confirmation and logged.
    let pass = catch_up(&b, None, |_, _| {}).await.unwrap();
    assert_eq!(pass.refused.len(), 1, "{pass:?}");
    assert!(
        pass.refused[0].1.contains("forged ledger change"),
        "{pass:?}"
    );
    assert_eq!(records_held(&b).await, 0);
    let held = registry::documents(&a, Some("T1")).await.unwrap();
    assert!(
        held[0].refused.as_deref().unwrap().contains("forged"),
        "{held:?}"
    );
    // The other process refuses it too, and the refusal is logged once.
    assert_eq!(
        catch_up(&a, None, |_, _| {}).await.unwrap().refused.len(),
        1
    );
    let events = registry::events(&a).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].1.as_str(), events[0].2.as_str()),
        ("T1", "refused")
    );

    // Enrolled again with the ledger's actor (the same code, as a till whose first attempt
    // never heard back may not: another actor), it is projected and its heads are held.
    let retry = Enrolling {
        code_hash: "code",
        actor: &actor,
        again: None,
        role: None,
    };
    let again = registry::enroll(&a, &retry, "secret", "key").await.unwrap();
    assert_eq!(again, Enrolment::CodeUsed);
    let client = a.get().await.unwrap();
    client
        .execute(
            "UPDATE devices SET actor = $1 WHERE device = 'T1'",
            &[&actor],
        )
        .await
        .unwrap();
    let pass = catch_up(&b, None, |_, _| {}).await.unwrap();
    assert!(pass.refused.is_empty(), "{pass:?}");
    assert_eq!(records_held(&b).await, earlier.len());
    let held = registry::documents(&a, Some("T1")).await.unwrap();
    assert_eq!(held[0].heads, heads_text(&doc.heads()));
    assert_eq!(held[0].records, earlier.len() as i64);
    assert_eq!(held[0].refused, None);

    // The same chunks again: nothing new. A change stored after them is projected, and
    // moves the heads held on.
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(0));
    let change = doc.append(&last[0], 0).unwrap();
    store_change(&b, &id, &change).await;
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(1));
    let held = registry::documents(&b, Some("T1")).await.unwrap();
    assert_eq!(held[0].heads, heads_text(&doc.heads()));
    assert_eq!(held[0].records, ledger.records.len() as i64);
    assert_eq!(records_held(&b).await, ledger.records.len());

    // A change of the till's own that removes a record projected: refused, as a ledger that
    // shrank would hide what headquarters counts of it from the checks of the whole ledger.
    use automerge::ReadDoc;
    let mut shrunk = doc.automerge().clone();
    let mut tx = shrunk.transaction();
    let (_, records) = tx.get(automerge::ROOT, "records").unwrap().unwrap();
    tx.delete(&records, ledger.records[0].header().id.as_str())
        .unwrap();
    tx.commit();
    let change = shrunk.get_last_local_change().unwrap();
    store_change(&b, &id, &change).await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Integrity(_)), "{err}");
    assert!(
        err.to_string().ends_with("a record projected was removed"),
        "{err}"
    );
    assert_eq!(records_held(&b).await, ledger.records.len());
}

/// A used code is taken again only by the device that used it, with its actor and signing
/// key, within half an hour of its first use (as headquarters on SQLite does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_code_is_taken_again_only_by_its_device_soon_after() {
    use fairpos_postgres::registry::{self, Enrolling, Enrolment};
    let Some(server) = server() else { return };
    let (_, a, b) = two_processes(&server).await;
    assert!(registry::add_device(&a, "T1", "S1", "till", "code")
        .await
        .unwrap());
    let actor = ActorId::random().to_hex_string();
    let enrolling = Enrolling {
        code_hash: "code",
        actor: &actor,
        again: None,
        role: None,
    };
    let retry = |granted| match granted {
        Enrolment::Granted { retry, .. } => Some(retry),
        _ => None,
    };
    let first = registry::enroll(&a, &enrolling, "secret-1", "key").await;
    assert_eq!(retry(first.unwrap()), Some(false));
    let again = registry::enroll(&b, &enrolling, "secret-2", "key").await;
    assert_eq!(retry(again.unwrap()), Some(true), "the till's own retry");
    let other_key = registry::enroll(&b, &enrolling, "secret-3", "other-key").await;
    assert_eq!(other_key.unwrap(), Enrolment::RetryRefused);
    let client = a.get().await.unwrap();
    let kept = "SELECT secret_hash, public_key FROM devices WHERE device = 'T1'";
    let kept = client.query_one(kept, &[]).await.unwrap();
    assert_eq!((kept.get(0), kept.get(1)), ("secret-2", "key"));
    // Half an hour after its first use (a retry does not move it), not even the till.
    client
        .execute(
            "UPDATE enroll_codes SET used_at = used_at - interval '29 minutes'",
            &[],
        )
        .await
        .unwrap();
    let late = registry::enroll(&a, &enrolling, "secret-4", "key").await;
    assert_eq!(
        retry(late.unwrap()),
        Some(true),
        "still within the half hour"
    );
    client
        .execute(
            "UPDATE enroll_codes SET used_at = used_at - interval '2 minutes'",
            &[],
        )
        .await
        .unwrap();
    let later = registry::enroll(&a, &enrolling, "secret-5", "key").await;
    assert_eq!(later.unwrap(), Enrolment::RetryRefused);
}
