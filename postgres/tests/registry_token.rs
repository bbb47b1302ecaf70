//! The device registry's token on a real PostgreSQL server: another whenever a device is
//! added, enrolled or revoked, or the table truncated, through any process, and the same
//! while nothing changed, so that headquarters makes the hubs' registry again only when it
//! changed.

mod common;

use common::{fresh_database, server};
use fairpos_postgres::registry;
use fairpos_postgres::registry_token::token;
use fairpos_postgres::{connect, migrate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_token_changes_with_every_device_changed_and_only_then() {
    let Some(server) = server() else { return };
    let url = fresh_database(&server).await;
    let (a, b) = (connect(&url).unwrap(), connect(&url).unwrap());
    migrate(&a).await.unwrap();
    let first = token(&a)
        .await
        .unwrap()
        .expect("a token from the migration");
    assert_eq!(token(&b).await.unwrap().as_ref(), Some(&first));

    assert!(registry::add_device(&a, "T1", "S1", "till", "code")
        .await
        .unwrap());
    let added = token(&b).await.unwrap().unwrap();
    assert_ne!(added, first, "a device added through A, read through B");
    let actor = fairpos_sync::ActorId::random().to_hex_string();
    let enrolling = registry::Enrolling {
        code_hash: "code",
        actor: &actor,
        again: Some("T1"),
        role: Some("till"),
    };
    registry::enroll(&b, &enrolling, "secret", "key")
        .await
        .unwrap();
    let enrolled = token(&a).await.unwrap().unwrap();
    assert_ne!(enrolled, added, "a device enrolled through B");

    let client = a.get().await.unwrap();
    let unchanged = client
        .execute("UPDATE devices SET stall = stall WHERE device = 'T1'", &[])
        .await
        .unwrap();
    assert_eq!(unchanged, 1);
    assert_eq!(
        token(&a).await.unwrap().unwrap(),
        enrolled,
        "nothing changed"
    );

    assert!(registry::revoke(&b, "T1").await.unwrap());
    let revoked = token(&a).await.unwrap().unwrap();
    assert_ne!(revoked, enrolled, "a device revoked");
    assert!(
        !registry::revoke(&b, "T1").await.unwrap(),
        "revoked already"
    );
    assert_eq!(token(&a).await.unwrap().unwrap(), revoked);

    client.execute("TRUNCATE devices", &[]).await.unwrap();
    let emptied = token(&b).await.unwrap().unwrap();
    assert_ne!(emptied, revoked, "every device removed");
}
