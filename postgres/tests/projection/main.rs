//! Headquarters' projection in PostgreSQL against SQLite's, on a real server: the same
//! reports to the fen whatever order the ledgers arrive in, each record exactly once when
//! two "processes" (two pools) project the same ledgers at the same time, migrations that
//! two processes run at once, ledgers with sales after a void projected at once, and a forged
//! ledger refused whole.

#[path = "../common/mod.rs"]
mod common;
mod corrections;

use common::compare::{assert_same, sqlite_projection};
use common::{fair, migrated_pool, server, Lcg};
use fairpos_postgres::{migrate, project, schema_version, Error, Pool};
use fairpos_projection::schema::TABLES;
use fairpos_sync::record::{Header, SaleRecord};
use fairpos_sync::Record;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_equal_sqlites_whatever_order_the_ledgers_arrive_in() {
    let Some(server) = server() else { return };
    // The last fair's ledgers are longer than a batch of records (1 024).
    for (seed, sales) in [(1, 40), (2, 40), (3, 1100)] {
        let ledgers = fair(&mut Lcg(seed), sales);
        let sqlite = sqlite_projection(&ledgers);
        let pool = migrated_pool(&server).await;
        // The next day's ledgers first (voids and refunds of sales not projected yet), then
        // the third till, then the first two in halves: a ledger synced in two steps.
        let mut added = 0;
        for ledger in ledgers[3..].iter().chain(&ledgers[2..3]) {
            added += project(&pool, &ledger.key, &ledger.records).await.unwrap();
        }
        for ledger in &ledgers[..2] {
            let half = ledger.records.len() / 2;
            added += project(&pool, &ledger.key, &ledger.records[..half])
                .await
                .unwrap();
            added += project(&pool, &ledger.key, &ledger.records).await.unwrap();
        }
        let total: usize = ledgers.iter().map(|l| l.records.len()).sum();
        assert_eq!(added, total, "each record new once (seed {seed})");
        assert_same(&pool, &sqlite).await;
        // Everything again: nothing new, nothing doubled.
        for ledger in &ledgers {
            assert_eq!(
                project(&pool, &ledger.key, &ledger.records).await.unwrap(),
                0
            );
        }
        assert_same(&pool, &sqlite).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_projecting_the_same_ledgers_at_once_count_each_record_once() {
    let Some(server) = server() else { return };
    let url = common::fresh_database(&server).await;
    // Two processes start together: both migrate, one of them applies the schema.
    let (a, b) = (
        fairpos_postgres::connect(&url).unwrap(),
        fairpos_postgres::connect(&url).unwrap(),
    );
    let (ma, mb) = tokio::join!(migrate(&a), migrate(&b));
    let mut applied = [ma.unwrap(), mb.unwrap()].concat();
    applied.sort();
    let every: Vec<i32> = fairpos_postgres::MIGRATIONS.iter().map(|m| m.0).collect();
    assert_eq!(applied, every, "each migration ran exactly once");
    assert_eq!(schema_version(&a).await.unwrap(), *every.last().unwrap());

    let ledgers = fair(&mut Lcg(7), 60);
    let sqlite = sqlite_projection(&ledgers);
    // Each process takes every ledger, in its own order and pieces, several at a time.
    let run = |pool: Pool, order: Vec<usize>, pieces: usize| {
        let ledgers: Vec<(String, Vec<_>)> = ledgers
            .iter()
            .map(|l| (l.key.clone(), l.records.clone()))
            .collect();
        tokio::spawn(async move {
            let mut added = 0;
            let mut tasks = Vec::new();
            for i in order {
                let (pool, (key, records)) = (pool.clone(), ledgers[i].clone());
                tasks.push(tokio::spawn(async move {
                    let mut n = 0;
                    let step = records.len().div_ceil(pieces);
                    for end in (step..records.len() + step).step_by(step) {
                        let end = end.min(records.len());
                        n += project(&pool, &key, &records[..end]).await.unwrap();
                    }
                    n
                }));
            }
            for t in tasks {
                added += t.await.unwrap();
            }
            added
        })
    };
    let (x, y) = tokio::join!(
        run(a.clone(), vec![0, 1, 2, 3, 4, 5], 3),
        run(b.clone(), vec![5, 3, 2, 4, 0, 1], 5)
    );
    let total: usize = ledgers.iter().map(|l| l.records.len()).sum();
    assert_eq!(
        x.unwrap() + y.unwrap(),
        total,
        "every record counted new exactly once"
    );
    assert_same(&a, &sqlite).await;
    assert_same(&b, &sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_that_reuses_a_sequence_number_is_refused_whole() {
    let Some(server) = server() else { return };
    let pool = migrated_pool(&server).await;
    let ledgers = fair(&mut Lcg(11), 5);
    let key = &ledgers[0].key;
    project(&pool, key, &ledgers[0].records[..3]).await.unwrap();
    // The same numbers again, under other ids: a forged or corrupted ledger.
    let mut forged = ledgers[0].records.clone();
    if let fairpos_sync::Record::Sale(s) = &mut forged[2] {
        s.header.id = "forged".into();
    } else {
        panic!("the third record is a sale");
    }
    let err = project(&pool, key, &forged).await.unwrap_err();
    assert!(matches!(err, Error::Integrity(_)), "{err}");
    assert!(
        err.to_string().contains("reuses sequence number 3"),
        "{err}"
    );
    // Nothing of the refused pass stayed.
    assert_eq!(common::rows_in(&pool, "records").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_compares_byte_by_byte_as_in_sqlite() {
    let Some(server) = server() else { return };
    let pool = migrated_pool(&server).await;
    let client = pool.get().await.unwrap();
    let tables: Vec<String> = TABLES.iter().map(|(t, _)| t.to_string()).collect();
    let other: Vec<String> = client
        .query(
            "SELECT table_name || '.' || column_name FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = ANY($1) AND data_type = 'text'
               AND collation_name IS DISTINCT FROM 'C'",
            &[&tables],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        other.is_empty(),
        "text columns not in collation C: {other:?}"
    );
    let text_columns: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = ANY($1) AND data_type = 'text'",
            &[&tables],
        )
        .await
        .unwrap()
        .get(0);
    assert!(text_columns > 40, "{text_columns} text columns");
}

/// A database a newer build migrated further is refused by this one (a process rolled back
/// to an older build wrote on, in a schema it did not know), and not changed; a role's
/// `lock_timeout` does not end the wait for another process's migration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_a_newer_schema_is_refused_and_limits_do_not_end_the_migrations_wait() {
    let Some(server) = server() else { return };
    let url = common::fresh_database(&server).await;
    let pool = fairpos_postgres::connect(&url).unwrap();
    let client = pool.get().await.unwrap();
    let database = url.rsplit('/').next().unwrap();
    client
        .batch_execute(&format!(
            "ALTER ROLE CURRENT_USER IN DATABASE \"{database}\" SET lock_timeout = '1ms'"
        ))
        .await
        .unwrap();
    // Another process migrating, for longer than every retry of a wait ended (9 s).
    client
        .query("SELECT pg_advisory_lock($1)", &[&0x66_6169_7270_6f73_i64])
        .await
        .unwrap();
    let released = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(11)).await;
        client
            .query("SELECT pg_advisory_unlock_all()", &[])
            .await
            .unwrap();
        client
    });
    let waiting = fairpos_postgres::connect(&url).unwrap();
    migrate(&waiting)
        .await
        .expect("waits for the other migration");
    let client = released.await.unwrap();
    client
        .batch_execute("INSERT INTO fairpos_migrations(version, name) VALUES (99, 'a later build')")
        .await
        .unwrap();
    let err = migrate(&waiting).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the database is of schema 99, newer than this build's {}: run the build that \
             migrated it, or a newer one",
            fairpos_postgres::MIGRATIONS
                .iter()
                .map(|m| m.0)
                .max()
                .unwrap()
        )
    );
}

#[tokio::test]
async fn a_wrong_address_is_a_clear_error() {
    let err = fairpos_postgres::connect("postgres://nobody@127.0.0.1:notaport/x").unwrap_err();
    assert!(err.to_string().contains("is not valid"), "{err}");
    // A closed port: the pool says it cannot reach the database.
    let pool = fairpos_postgres::connect("postgres://nobody@127.0.0.1:1/x").unwrap();
    let err = migrate(&pool).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot reach the database: error connecting"),
        "{err}"
    );
    // A command's first connection names the address, its password masked; the pool's own
    // words ("Error occurred while creating a new object") are left out.
    let err = fairpos_postgres::connect_migrated("postgres://nobody:hunter2@127.0.0.1:1/x")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "cannot reach the database at postgres://nobody:***@127.0.0.1:1/x: \
             error connecting to server: "
        ),
        "{err}"
    );
    assert!(!err.contains("hunter2") && !err.contains("object"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_twice_counts_once_and_a_second_void_of_a_sale_is_refused() {
    let Some(server) = server() else { return };
    let pool = migrated_pool(&server).await;
    let ledgers = fair(&mut Lcg(17), 5);
    let ledger = &ledgers[0];
    let mut twice = ledger.records.clone();
    twice.push(ledger.records[3].clone());
    let added = project(&pool, &ledger.key, &twice).await.unwrap();
    assert_eq!(added, ledger.records.len());

    // Another till's ledger voids one of its sales twice, under two numbers: the second void
    // contradicts the first, and the ledger is refused as such (not a database failure).
    let other = &ledgers[1];
    let sale = other
        .records
        .iter()
        .find_map(|r| match r {
            fairpos_sync::Record::Sale(s) => Some(s.header.id.clone()),
            _ => None,
        })
        .unwrap();
    let mut voids = other.records.clone();
    for _ in 0..2 {
        let seq = voids.len() as u64 + 1;
        voids.push(fairpos_sync::Record::Void(
            fairpos_sync::record::VoidRecord {
                header: fairpos_sync::record::Header {
                    id: format!("void-{seq}"),
                    device: "T2".into(),
                    seq,
                    at: "2026-11-22T12:00:00+08:00".into(),
                },
                sale: sale.clone(),
                number: String::new(),
                shift: "T2-shift".into(),
                reason: String::new(),
            },
        ));
    }
    let err = project(&pool, &other.key, &voids).await.unwrap_err();
    assert!(matches!(err, Error::Integrity(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledgers_projected_at_once_with_sales_after_a_void_equal_sqlites() {
    let Some(server) = server() else { return };
    // A void moved to just after its sale, and the records numbered again in their new
    // order: the sales after it are written under the projection lock, the ones before it
    // beside the other ledgers'.
    let mut ledgers = fair(&mut Lcg(23), 40);
    let moved = ledgers[..3].iter_mut().find_map(|ledger| {
        let records = &mut ledger.records;
        let at = records.iter().position(|r| matches!(r, Record::Void(_)))?;
        let Record::Void(void) = &records[at] else {
            unreachable!("found as a void")
        };
        let sale = records.iter().position(|r| r.header().id == void.sale)?;
        let void = records.remove(at);
        records.insert(sale + 1, void);
        for (n, record) in records.iter_mut().enumerate() {
            header_mut(record).seq = n as u64 + 1;
        }
        Some(sale)
    });
    let sale = moved.expect("a day's ledger voids one of its own sales");
    assert!(sale < 20, "sales follow the void");
    let sqlite = sqlite_projection(&ledgers);
    let pool = migrated_pool(&server).await;
    for round in 0..2 {
        let tasks: Vec<_> = ledgers
            .iter()
            .map(|l| {
                let (pool, key, records) = (pool.clone(), l.key.clone(), l.records.clone());
                tokio::spawn(async move { project(&pool, &key, &records).await.unwrap() })
            })
            .collect();
        let mut added = 0;
        for task in tasks {
            added += task.await.unwrap();
        }
        let total: usize = ledgers.iter().map(|l| l.records.len()).sum();
        assert_eq!(added, if round == 0 { total } else { 0 }, "round {round}");
        assert_same(&pool, &sqlite).await;
    }
}

fn header_mut(record: &mut Record) -> &mut Header {
    match record {
        Record::ShiftOpen(r) => &mut r.header,
        Record::CashMove(r) => &mut r.header,
        Record::Sale(r) => &mut r.header,
        Record::Void(r) => &mut r.header,
        Record::Refund(r) => &mut r.header,
        Record::ShiftClose(r) => &mut r.header,
        Record::ProductAdd(r) => &mut r.header,
    }
}

/// Migration 5 gives a projection from before it `sale_oversold`'s sale and name columns,
/// filled as the projection now writes them, which are SQLite's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversold_rows_from_before_migration_5_get_their_sales_and_names() {
    let Some(server) = server() else { return };
    let ledgers = fair(&mut Lcg(5), 60);
    let sqlite = sqlite_projection(&ledgers);
    let pool = migrated_pool(&server).await;
    for ledger in &ledgers {
        project(&pool, &ledger.key, &ledger.records).await.unwrap();
    }
    // Each row as one text, the same on both backends.
    let query = "SELECT sale_id || '|' || sku || '|' || device || '|' || seq || '|' || number
                        || '|' || COALESCE(name_zh, '(none)')
                 FROM sale_oversold ORDER BY sale_id, sku";
    let in_sqlite: Vec<String> = sqlite
        .prepare(query)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(in_sqlite.len() > 3, "the fair has oversold lines");
    let in_postgres = || async {
        let client = pool.get().await.unwrap();
        client
            .query(query, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect::<Vec<String>>()
    };
    assert_eq!(in_postgres().await, in_sqlite, "as projected");
    pool.get()
        .await
        .unwrap()
        .batch_execute(
            "ALTER TABLE sale_oversold DROP COLUMN device, DROP COLUMN seq,
                 DROP COLUMN number, DROP COLUMN name_zh;
             DELETE FROM fairpos_migrations WHERE version = 5;",
        )
        .await
        .unwrap();
    assert_eq!(migrate(&pool).await.unwrap(), [5]);
    assert_eq!(in_postgres().await, in_sqlite, "as migration 5 fills them");
    // A process of an older build, still serving, writes oversold rows without their sale:
    // the next start (its migration check) fills them.
    pool.get()
        .await
        .unwrap()
        .batch_execute(
            "UPDATE sale_oversold SET device = NULL, seq = NULL, number = NULL, name_zh = NULL
             WHERE sale_id IN (SELECT sale_id FROM sale_oversold ORDER BY sale_id LIMIT 2)",
        )
        .await
        .unwrap();
    let emptied = || async {
        let client = pool.get().await.unwrap();
        let row = client
            .query_one(
                "SELECT count(*) FROM sale_oversold WHERE device IS NULL",
                &[],
            )
            .await
            .unwrap();
        row.get::<_, i64>(0)
    };
    assert_eq!(emptied().await, 2);
    assert!(migrate(&pool).await.unwrap().is_empty());
    assert_eq!(emptied().await, 0);
    assert_eq!(in_postgres().await, in_sqlite, "filled at the next start");
}
