//! TLS to the database, on a server of its own that `scripts/postgres.sh start --tls` starts
//! for this test (TLS only, a certificate for 127.0.0.1 from a CA made by openssl): with the
//! CA named in the address (`sslrootcert`) the pool, the migrations and a listener work over
//! TLS; without it, or without TLS, the server is refused or refuses.

mod common;

use std::path::PathBuf;
use std::process::Command;

use fairpos_postgres::documents::{Listener, Origin};
use fairpos_postgres::{connect, migrate};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh")
}

/// The TLS server, stopped however the test ends: its address and its CA's file.
struct TlsServer {
    url: String,
    ca: String,
    dir: String,
}

impl TlsServer {
    fn start() -> TlsServer {
        let out = Command::new(script())
            .args(["start", "--tls"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postgres.sh start --tls: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        let value = |name: &str| {
            line.split_whitespace()
                .find_map(|part| part.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name} in {line:?}"))
                .to_string()
        };
        TlsServer {
            url: value("FAIRPOS_TEST_POSTGRES"),
            ca: value("FAIRPOS_TEST_POSTGRES_CA"),
            dir: value("FAIRPOS_TEST_PGDATA"),
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .env("FAIRPOS_TEST_PGDATA", &self.dir)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_is_reached_over_tls_trusting_the_ca_the_address_names() {
    // Where no PostgreSQL runs for the tests, none can be started for this one either.
    if common::server().is_none() {
        return;
    }
    let server = TlsServer::start();
    let trusted = format!(
        "{}/postgres?sslmode=require&sslrootcert={}",
        server.url, server.ca
    );
    let pool = connect(&trusted).unwrap();
    migrate(&pool).await.unwrap();
    let client = pool.get().await.unwrap();
    let over_tls: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(over_tls);
    Listener::start(&trusted, &Origin::new(), &[])
        .await
        .unwrap();

    // Without the CA: the certificate does not verify, and that is said.
    let untrusted = connect(&format!("{}/postgres?sslmode=require", server.url)).unwrap();
    let err = migrate(&untrusted).await.unwrap_err().to_string();
    assert!(err.contains("cannot reach the database"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // Without TLS: the server refuses.
    let plain = connect(&format!("{}/postgres?sslmode=disable", server.url)).unwrap();
    let err = migrate(&plain).await.unwrap_err().to_string();
    assert!(err.contains("no encryption"), "{err}");
    // A CA file that is not there is bad input, said before any connection.
    let missing = format!("{}/postgres?sslrootcert=/nonexistent/ca.pem", server.url);
    let Err(err) = connect(&missing) else {
        panic!("a missing CA file is refused");
    };
    let err = err.to_string();
    assert!(
        err.contains("cannot read the database's CA certificate"),
        "{err}"
    );
}
