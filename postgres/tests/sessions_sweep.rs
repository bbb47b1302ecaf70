//! Ended dashboard sessions swept on one real server by eight sweeps at once, as the
//! processes of one headquarters run theirs: each ended session removed and written in the
//! audit log once (with why), the live one kept, the log one chain; and an ended session
//! refused before any sweep has removed it.

mod common;

use fairpos_postgres::accounts::{
    add, live_session, open_session, sweep_sessions, EndedBecause, Lifetimes, Stored,
};
use fairpos_postgres::audit::chain::Check;
use fairpos_postgres::audit::walk;

/// An hour idle, twelve hours in all (`hq serve`'s defaults).
const LIFETIMES: Lifetimes = Lifetimes {
    idle_s: 3600.0,
    absolute_s: 43_200.0,
    stale_s: 60.0,
};

const WHY: EndedBecause<'static> = EndedBecause {
    lifetime: "12h after its login",
    idle: "unused for 1h",
    removed: "its account was removed",
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_swept_at_once_are_written_down_once_each() {
    let Some(server) = common::server() else {
        return;
    };
    let pool = common::migrated_pool(&server).await;
    let lead = Stored {
        role: "stall-lead".into(),
        scope: Some("S01".into()),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
    };
    assert!(add(&pool, "lead1", &lead).await.unwrap());
    // 12 sessions over their lifetime, 12 unused for over an hour, 1 live.
    for n in 0..25 {
        let hash = &lead.password_hash;
        let opened = open_session(&pool, &format!("hash{n:02}"), "peer", "lead1", hash).await;
        assert!(opened.unwrap());
    }
    // Not with a password the account no longer has (changed during a login's check).
    let old = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$b2xk";
    let opened = open_session(&pool, "hash-late", "peer", "lead1", old).await;
    assert!(
        !opened.unwrap(),
        "a session opened with the password before"
    );
    let client = pool.get().await.unwrap();
    let aged = "UPDATE sessions SET created_at = now() - interval '13 hours'
                WHERE token_hash < 'hash12'";
    client.execute(aged, &[]).await.unwrap();
    let unused = "UPDATE sessions SET last_seen = now() - interval '61 minutes'
                  WHERE token_hash >= 'hash12' AND token_hash < 'hash24'";
    client.execute(unused, &[]).await.unwrap();

    // Refused before any sweep, and left for the sweep.
    assert_eq!(
        live_session(&pool, "hash00", LIFETIMES, true)
            .await
            .unwrap(),
        None
    );
    assert_eq!(common::rows_in(&pool, "sessions").await, 25);

    let sweeps = (0..8).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move { sweep_sessions(&pool, LIFETIMES, "session ended", WHY).await })
    });
    let mut swept = 0;
    for sweep in futures::future::join_all(sweeps).await {
        swept += sweep.unwrap().unwrap();
    }
    assert_eq!(swept, 24);
    let written = client
        .query(
            "SELECT actor, address, detail, count(*) FROM audit_log
             WHERE action = 'session ended' GROUP BY 1, 2, 3 ORDER BY 3",
            &[],
        )
        .await
        .unwrap();
    let written: Vec<(String, String, String, i64)> = written
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let lead1 = |why: &str, n| {
        (
            "lead1".into(),
            "local".into(),
            format!("dashboard: {why}"),
            n,
        )
    };
    assert_eq!(
        written,
        [lead1("12h after its login", 12), lead1("unused for 1h", 12)]
    );
    // Looked at without its use recorded (an open screen asking again), a session stays
    // as idle as it was; with it, its use is recorded.
    let idle = "UPDATE sessions SET last_seen = now() - interval '30 minutes'
                WHERE token_hash = 'hash24'";
    client.execute(idle, &[]).await.unwrap();
    let idle_for = || async {
        let row = client
            .query_one(
                "SELECT extract(epoch FROM now() - last_seen)::float8 FROM sessions
                 WHERE token_hash = 'hash24'",
                &[],
            )
            .await
            .unwrap();
        row.get::<_, f64>(0)
    };
    assert!(live_session(&pool, "hash24", LIFETIMES, false)
        .await
        .unwrap()
        .is_some());
    assert!(idle_for().await > 29.0 * 60.0);
    assert!(live_session(&pool, "hash24", LIFETIMES, true)
        .await
        .unwrap()
        .is_some());
    assert!(idle_for().await < 60.0);
    assert_eq!(
        sweep_sessions(&pool, LIFETIMES, "session ended", WHY)
            .await
            .unwrap(),
        0
    );
    let mut check = Check::default();
    walk(&pool, |id, entry, link| check.add(id, &entry, &link))
        .await
        .unwrap();
    let verdict = check.finish();
    assert_eq!(verdict.broken, None);
    assert_eq!(verdict.entries, 24);
}
