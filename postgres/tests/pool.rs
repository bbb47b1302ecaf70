//! Pools that wait only so long (`connect_waiting`, organizers' at headquarters): with every
//! connection taken, a caller is told the database is busy once the wait is over, and gets a
//! connection again as soon as one is given back; a pool that waits on (`connect_sized`)
//! hands the connection over when it comes back. Listings read a batch at a time.

mod common;

use std::time::Duration;

use fairpos_postgres::{connect_sized, connect_waiting};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_that_waits_so_long_says_busy_then_serves_again() {
    let Some(url) = common::server() else {
        return;
    };
    let url = format!("{url}/postgres");
    let pool = connect_waiting(&url, 1, Duration::from_millis(300)).unwrap();
    let held = pool.get().await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), pool.get())
        .await
        .expect("told within its wait, not left waiting")
        .map_err(fairpos_postgres::Error::from);
    let e = refused.expect_err("the only connection is taken");
    assert!(e.is_busy(), "{e}");
    assert!(!e.is_bad_input());
    drop(held);
    let again = pool.get().await.unwrap();
    let one: i32 = again.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);

    // Waiting on: the second caller gets the connection once the first gives it back.
    let patient = connect_sized(&url, 1).unwrap();
    let held = patient.get().await.unwrap();
    let waiting = tokio::spawn({
        let patient = patient.clone();
        async move { patient.get().await.map(|_| ()).map_err(|e| e.to_string()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "no connection is free yet");
    drop(held);
    assert_eq!(waiting.await.unwrap(), Ok(()));
}

/// A listing read a few rows at a time through a portal hands every row over once, in
/// order, whether the last batch is full or not; an error from the caller stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_read_a_few_at_a_time_come_once_each_in_order() {
    let Some(url) = common::server() else {
        return;
    };
    let pool = connect_sized(&format!("{url}/postgres"), 2).unwrap();
    let sql = |n: i32| format!("SELECT n FROM generate_series(1, {n}) AS n ORDER BY n");
    for (rows, at_a_time) in [(7, 3), (6, 3), (0, 3), (2, 10)] {
        let mut seen = Vec::new();
        fairpos_postgres::each_row_by(&pool, &sql(rows), at_a_time, |row| {
            seen.push(row.get::<_, i32>(0));
            Ok::<_, fairpos_postgres::Error>(())
        })
        .await
        .unwrap();
        assert_eq!(
            seen,
            (1..=rows).collect::<Vec<_>>(),
            "{rows} by {at_a_time}"
        );
    }
    let mut seen = 0;
    let stopped = fairpos_postgres::each_row_by(&pool, &sql(9), 2, |_| {
        seen += 1;
        if seen == 3 {
            return Err(fairpos_postgres::Error::Integrity("enough".into()));
        }
        Ok(())
    })
    .await;
    let stopped = stopped.map_err(|e| e.to_string());
    assert_eq!((stopped, seen), (Err("enough".to_string()), 3));
}

/// Every connection of a pool is set so that the server ends it when its host is gone
/// (keepalive probes after 30 s) or when it sits idle inside a transaction for ten minutes:
/// a host that lost power holding the shared projection lock held it for the kernel's two
/// hours, no ledger projected anywhere meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_is_ended_by_the_server_when_its_host_is_gone() {
    let Some(url) = common::server() else {
        return;
    };
    let pool = connect_sized(&format!("{url}/postgres"), 2).unwrap();
    let (a, b) = (pool.get().await.unwrap(), pool.get().await.unwrap());
    for client in [&a, &b] {
        let show = |setting: &'static str| async move {
            let row = client.query_one(&format!("SHOW {setting}"), &[]).await;
            row.unwrap().get::<_, String>(0)
        };
        assert_eq!(show("idle_in_transaction_session_timeout").await, "10min");
        assert_eq!(show("tcp_keepalives_idle").await, "30");
        assert_eq!(show("tcp_keepalives_interval").await, "10");
        assert_eq!(show("tcp_keepalives_count").await, "3");
    }
}
