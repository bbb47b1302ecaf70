//! The audit log's chain on one real server, as the database's trigger writes it: 60
//! entries written at once through two processes (here, two pools) stay one chain, each
//! following the one written before it, hashed by PostgreSQL as `chain::digest` hashes
//! (Chinese, quotes and newlines among them); a log from before the chain is linked in
//! order when migration 9 runs; a prune of every entry leaves one chain, alone and with
//! what it archived put back.

mod common;

use fairpos_postgres::audit::chain::{Break, Check, Link, Verdict};
use fairpos_postgres::audit::{prune, record, walk, Archive, NewEntry, StoredEntry};
use fairpos_postgres::{connect, migrate, Error, Pool};

/// The log walked in order, with `archived` put in before the log's entries.
async fn walked(pool: &Pool, archived: &[(i64, StoredEntry, Link)]) -> (Verdict, Vec<Link>) {
    let mut check = Check::default();
    for (id, entry, link) in archived {
        check.add(*id, entry, link);
    }
    let mut links: Vec<Link> = Vec::new();
    walk(pool, |id, entry, link| {
        check.add(id, &entry, &link);
        links.push(link);
    })
    .await
    .unwrap();
    (check.finish(), links)
}

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
            let detail = format!("T{n:02}, 摊位 'S01'\nline two");
            record(&pool, "alice", "local", "add-device", &detail).await
        })
    });
    for written in futures::future::join_all(writes).await {
        written.unwrap().unwrap();
    }
    let (verdict, links) = walked(&b, &[]).await;
    assert_eq!(verdict.broken, None, "{links:#?}");
    assert_eq!(verdict.entries, 60);
    // No two entries follow the same one.
    let mut followed: Vec<&str> = links
        .iter()
        .map(|l| l.follows.as_deref().unwrap())
        .collect();
    followed.sort_unstable();
    followed.dedup();
    assert_eq!(followed.len(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_from_before_the_chain_is_linked_in_order_when_it_begins() {
    let Some(server) = common::server() else {
        return;
    };
    let url = common::fresh_database(&server).await;
    let pool = connect(&url).unwrap();
    migrate(&pool).await.unwrap();
    // The database as migration 8 left it, with entries written then (to the microsecond).
    let client = pool.get().await.unwrap();
    client
        .batch_execute(
            "DROP TRIGGER audit_log_link ON audit_log;
             ALTER TABLE audit_log DROP COLUMN follows, DROP COLUMN digest;
             ALTER TABLE audit_log ALTER COLUMN id
                 SET DEFAULT nextval(pg_get_serial_sequence('audit_log', 'id'));
             DELETE FROM fairpos_migrations WHERE version = 9;
             INSERT INTO audit_log(at, actor, address, action, detail) VALUES
                 ('2025-01-01 08:00:00.123456+08', 'alice', 'local', 'init', '博览会'),
                 ('2025-01-02 09:30:00.9+08', 'bob', '10.0.0.9', 'login', '');
             -- Past two batches of linking.
             INSERT INTO audit_log(at, actor, address, action, detail)
                 SELECT '2025-01-03 10:00:00+08'::timestamptz + i * interval '1 ms', 'bob',
                     '10.0.0.9', 'login refused', 'try ' || i
                 FROM generate_series(1, 20001) AS i;",
        )
        .await
        .unwrap();
    drop(client);
    assert_eq!(migrate(&pool).await.unwrap(), [9]);
    record(&pool, "alice", "local", "user add", "carol")
        .await
        .unwrap();
    let (verdict, _) = walked(&pool, &[]).await;
    assert_eq!((verdict.broken, verdict.entries), (None, 20_004));
}

/// An archive in memory.
#[derive(Default)]
struct Kept {
    entries: Vec<(i64, StoredEntry, Link)>,
    flushed: bool,
}

impl Archive for Kept {
    type Error = Error;

    fn add(&mut self, id: i64, entry: StoredEntry, link: Link) -> Result<(), Error> {
        self.entries.push((id, entry, link));
        Ok(())
    }

    fn flush(&mut self, count: u64) -> Result<(), Error> {
        assert_eq!(count, self.entries.len() as u64);
        self.flushed = true;
        Ok(())
    }

    fn entry(&mut self, junctions: &[String]) -> Result<NewEntry, Error> {
        assert!(self.flushed);
        let detail = fairpos_postgres::audit::chain::with_junctions("all".into(), junctions);
        let action = fairpos_postgres::audit::PRUNE_ACTION.to_string();
        Ok(("bob".into(), "local".into(), action, detail))
    }

    fn name(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_of_every_entry_leaves_one_chain() {
    let Some(server) = common::server() else {
        return;
    };
    let url = common::fresh_database(&server).await;
    let pool = connect(&url).unwrap();
    migrate(&pool).await.unwrap();
    for n in 0..3 {
        record(&pool, "alice", "local", "login", &n.to_string())
            .await
            .unwrap();
    }
    let mut kept = Kept::default();
    let pruned = prune(&pool, "2999-01-01T00:00:00Z", &mut kept).await;
    assert_eq!(pruned.unwrap(), 3);
    // The prune's entry, alone in the log, follows the last removed and names it.
    let (verdict, _) = walked(&pool, &[]).await;
    assert_eq!((verdict.broken, verdict.pruned), (None, vec![(4, 4)]));
    let (verdict, _) = walked(&pool, &kept.entries).await;
    assert_eq!((verdict.broken, verdict.entries), (None, 4));
    assert!(verdict.pruned.is_empty());
    // An entry removed behind the prune's back: its gap is named by no prune.
    let client = pool.get().await.unwrap();
    record(&pool, "alice", "local", "login", "3").await.unwrap();
    record(&pool, "alice", "local", "login", "4").await.unwrap();
    client
        .execute("DELETE FROM audit_log WHERE detail = '3'", &[])
        .await
        .unwrap();
    let (verdict, _) = walked(&pool, &kept.entries).await;
    assert_eq!(verdict.broken, Some(Break::Removed { id: 6 }));
}
