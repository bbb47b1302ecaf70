//! The audit log's chain written by two processes (here, two pools) at once on one real
//! server: 60 entries written together through both stay one chain, each following the
//! one written before it.

mod common;

use fairpos_postgres::audit::chain::{Check, Link};
use fairpos_postgres::audit::{record, walk};
use fairpos_postgres::{connect, migrate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_written_at_once_through_two_processes_stay_one_chain() {
    let Some(server) = common::server() else {
        return;
    };
    let url = common::fresh_database(&server).await;
    let (a, b) = (connect(&url).unwrap(), connect(&url).unwrap());
    migrate(&a).await.unwrap();
    let writes = (0..60).map(|n| {
        let pool = if n % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            let detail = format!("T{n:02}");
            record(&pool, "alice", "local", "add-device", &detail).await
        })
    });
    for written in futures::future::join_all(writes).await {
        written.unwrap().unwrap();
    }
    let mut check = Check::default();
    let mut links: Vec<Link> = Vec::new();
    walk(&b, |id, entry, link| {
        check.add(id, &entry, &link);
        links.push(link);
    })
    .await
    .unwrap();
    let verdict = check.finish();
    assert_eq!(verdict.broken, None, "{links:#?}");
    assert_eq!(verdict.entries, 60);
    assert_eq!(verdict.unlinked, 0);
    // No two entries follow the same one.
    let mut followed: Vec<&str> = links
        .iter()
        .map(|l| l.follows.as_deref().unwrap())
        .collect();
    followed.sort_unstable();
    followed.dedup();
    assert_eq!(followed.len(), 60);
}
