//! The PostgreSQL server `scripts/postgres.sh` starts for the test run
//! (`FAIRPOS_TEST_POSTGRES`): a new database per test.

use std::process::Command;

/// A new database on the test server (`scripts/postgres.sh`); `None`, said, where no server
/// runs and none is required.
pub fn fresh_database(name: &str) -> Option<String> {
    let Ok(server) = std::env::var("FAIRPOS_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("FAIRPOS_REQUIRE_POSTGRES").is_none(),
            "FAIRPOS_TEST_POSTGRES is not set: start the server with scripts/postgres.sh"
        );
        eprintln!("skipped: no PostgreSQL server (FAIRPOS_TEST_POSTGRES)");
        return None;
    };
    let db = format!("fairpos_{name}_{}", std::process::id());
    for sql in [
        format!("DROP DATABASE IF EXISTS {db}"),
        format!("CREATE DATABASE {db}"),
    ] {
        let psql = Command::new("psql")
            .env("PGOPTIONS", "--client-min-messages=warning")
            .args([&format!("{server}/postgres"), "-qc", &sql])
            .status()
            .unwrap();
        assert!(psql.success(), "{sql}");
    }
    Some(format!("{server}/{db}"))
}

/// What `sql` answers on the database at `url`, by `psql` (unaligned, tuples only: one value
/// per line, `|` between columns).
pub fn psql_answer(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .env("PGOPTIONS", "--client-min-messages=warning")
        .args([url, "-qtAc", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}
