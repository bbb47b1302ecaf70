//! Failed guesses counted in the database by two processes (here, two pools) on one real
//! server: attempts through either count together, the limit holds for a burst of attempts
//! made at once through both, a refused attempt counts nowhere, attempts taken back or
//! forgotten free the key, and a key is free again once its window has passed; old attempts
//! are swept out.

mod common;

use fairpos_postgres::throttle::{begin, sweep, take_back, KeyLimit};
use fairpos_postgres::{connect, migrate, Pool};

const THREE_A_MINUTE: KeyLimit = KeyLimit {
    failures: 3,
    window_seconds: 60,
};

async fn two_processes(server: &str) -> (Pool, Pool) {
    let url = common::fresh_database(server).await;
    let (a, b) = (connect(&url).unwrap(), connect(&url).unwrap());
    migrate(&a).await.unwrap();
    (a, b)
}

async fn attempts(pool: &Pool) -> i64 {
    common::rows_in(pool, "hq_attempts").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_through_either_process_count_together() {
    let Some(server) = common::server() else {
        return;
    };
    let (a, b) = two_processes(&server).await;
    let key = [("login@203.0.113.7", THREE_A_MINUTE)];
    let mut ids = Vec::new();
    for pool in [&a, &b, &a] {
        ids.push(begin(pool, &key).await.unwrap().expect("under the limit"));
    }
    let at_limit = begin(&b, &key).await.unwrap().expect_err("the fourth");
    let [(0, wait)] = at_limit[..] else {
        panic!("{at_limit:?}");
    };
    assert!((1..=60).contains(&wait), "{wait}");
    // Refused, it was counted nowhere: one taken back frees one try.
    assert_eq!(attempts(&a).await, 3);
    take_back(&b, None, &[ids[1][0]]).await.unwrap();
    let last = begin(&b, &key).await.unwrap().expect("one was taken back");
    assert_eq!(last.len(), 1);
    assert!(begin(&a, &key).await.unwrap().is_err());

    // Both keys of an attempt must be free; another key is.
    let other = [("login@198.51.100.1", THREE_A_MINUTE)];
    assert!(begin(&a, &other).await.unwrap().is_ok());
    let both = [
        ("login@198.51.100.1", THREE_A_MINUTE),
        ("login@203.0.113.7", THREE_A_MINUTE),
    ];
    let at_limit = begin(&a, &both)
        .await
        .unwrap()
        .expect_err("the second key's");
    assert_eq!(at_limit.len(), 1, "{at_limit:?}");
    assert_eq!(
        at_limit[0].0, 1,
        "the second key is at its limit, not the first"
    );
    assert_eq!(attempts(&a).await, 4, "the refused pair counted on neither");

    // A success from the address: its attempts all go, and the other key's attempt given.
    let other_id = begin(&a, &other).await.unwrap().unwrap()[0];
    take_back(&b, Some("login@203.0.113.7"), &[other_id])
        .await
        .unwrap();
    assert_eq!(
        attempts(&a).await,
        1,
        "the other key's first attempt is left"
    );
    let ids = begin(&a, &both).await.unwrap().expect("forgotten");
    assert_eq!(ids.len(), 2, "one attempt per key, in the keys' order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_two_processes_gets_no_more_tries() {
    let Some(server) = common::server() else {
        return;
    };
    let (a, b) = two_processes(&server).await;
    let five = KeyLimit {
        failures: 5,
        window_seconds: 600,
    };
    let tries: Vec<_> = (0..16)
        .map(|i| {
            let pool = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                begin(&pool, &[("enrol@192.0.2.9", five)])
                    .await
                    .unwrap()
                    .is_ok()
            })
        })
        .collect();
    let mut taken = 0;
    for t in tries {
        taken += usize::from(t.await.unwrap());
    }
    assert_eq!(
        taken, 5,
        "exactly the limit, however the attempts interleave"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_free_once_its_window_has_passed() {
    let Some(server) = common::server() else {
        return;
    };
    let (a, b) = two_processes(&server).await;
    let two_in_4s = KeyLimit {
        failures: 2,
        window_seconds: 4,
    };
    let key = [("login:organizer", two_in_4s)];
    begin(&a, &key).await.unwrap().unwrap();
    begin(&b, &key).await.unwrap().unwrap();
    // Refused at once (within the window, which the database's clock measures), with the
    // rest of it to wait.
    let at_limit = begin(&a, &key).await.unwrap().unwrap_err();
    let [(0, wait)] = at_limit[..] else {
        panic!("{at_limit:?}");
    };
    assert!((1..=4).contains(&wait), "{wait}");
    tokio::time::sleep(std::time::Duration::from_millis(4_500)).await;
    begin(&b, &key)
        .await
        .unwrap()
        .expect("the window has passed");
    assert_eq!(
        attempts(&a).await,
        1,
        "the key's attempts out of its window go"
    );

    // Another key's attempts, not tried again, are swept once older than asked.
    begin(&a, &[("enrol@192.0.2.77", two_in_4s)])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sweep(&b, 600).await.unwrap(), 0);
    assert_eq!(attempts(&a).await, 2);
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert_eq!(sweep(&b, 1).await.unwrap(), 2);
    assert_eq!(attempts(&a).await, 0);
}
