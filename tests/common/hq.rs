//! Headquarters for tests: a real data directory and the real `fairpos hq serve` process on
//! a loopback port.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::{Till, BIN, PIN};

pub const PASSWORD: &str = "organizer-pw";

pub struct Hq {
    pub dir: TempDir,
}

impl Hq {
    pub fn demo() -> Hq {
        let hq = Hq {
            dir: tempfile::tempdir().unwrap(),
        };
        hq.ok(&["hq", "init", "--demo", "--organizer-password", PASSWORD]);
        hq
    }

    /// The demo headquarters on a new database of the test server (`hq init --database`);
    /// `None`, said, where no server runs and none is required.
    pub fn demo_postgres(name: &str) -> Option<Hq> {
        let url = super::postgres::fresh_database(name)?;
        Some(Hq::demo_on(&url))
    }

    /// A new data directory of the demo headquarters on the PostgreSQL database `url`
    /// (`hq init --database`): a new one, or one joining the database's headquarters.
    pub fn demo_on(url: &str) -> Hq {
        let hq = Hq {
            dir: tempfile::tempdir().unwrap(),
        };
        hq.ok(&[
            "hq",
            "init",
            "--demo",
            "--organizer-password",
            PASSWORD,
            "--database",
            url,
        ]);
        hq
    }

    /// The PostgreSQL database this headquarters runs on, as `hq init --database` recorded
    /// it; `None` on SQLite.
    pub fn database_url(&self) -> Option<String> {
        use rusqlite::OptionalExtension;
        let db = rusqlite::Connection::open(self.data().join("hq.db")).unwrap();
        db.query_row("SELECT value FROM meta WHERE key = 'database'", [], |r| {
            r.get(0)
        })
        .optional()
        .unwrap()
    }

    /// Whether this headquarters runs on PostgreSQL (`hq init --database`).
    pub fn on_postgres(&self) -> bool {
        self.database_url().is_some()
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .arg("--data")
            .arg(self.data())
            .args(args)
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "fairpos {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// A one-time enrolment code for a till.
    pub fn add_device(&self, device: &str, stall: &str) -> String {
        let v = self.json(&[
            "hq",
            "add-device",
            "--device",
            device,
            "--stall",
            stall,
            "--json",
        ]);
        v["code"].as_str().unwrap().to_string()
    }

    /// Registers a venue hub `device`; its one-time enrolment code.
    pub fn add_hub(&self, device: &str) -> String {
        let v = self.json(&["hq", "add-device", "--device", device, "--hub", "--json"]);
        v["code"].as_str().unwrap().to_string()
    }

    /// How `hq serve` with `extra`, on a free port, refuses to start, which it must, saying
    /// nothing of serving: its exit code and what it wrote to stderr.
    pub fn serve_refused(&self, extra: &[&str]) -> (Option<i32>, String) {
        let mut args = vec!["hq", "serve", "--listen", "127.0.0.1:0"];
        args.extend(extra);
        let out = self.run(&args);
        assert!(!out.status.success(), "{out:?}");
        assert!(out.stdout.is_empty(), "nothing said served: {out:?}");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn serve(&self) -> Server {
        Server::start(self.data(), &[])
    }

    /// `(device, sale number, total)` of every sale headquarters holds.
    pub fn sales(&self) -> Vec<(String, String, i64)> {
        self.json(&["hq", "sales", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["device"].as_str().unwrap().to_string(),
                    s["sale"].as_str().unwrap().to_string(),
                    s["total_fen"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    pub fn events(&self) -> String {
        self.ok(&["hq", "events"])
    }
}

/// A running `fairpos hq serve` (headquarters or hub).
pub struct Server {
    child: Child,
    pub url: String,
    /// Where `/metrics` is served, with `--metrics-listen`.
    pub metrics: Option<String>,
}

impl Server {
    /// The loopback address it listens on (for a proxy in front of it, or a restart there).
    pub fn address(&self) -> std::net::SocketAddr {
        self.url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .parse()
            .expect("hq serve's URL is http://ADDRESS")
    }

    /// Starts `hq serve` on a free loopback port, or at `--listen ADDR` when `extra` says so.
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::start_logging(data, extra, &[], Stdio::inherit())
    }

    /// As [`Server::start`], with the environment variables `env` too, its log (stderr)
    /// going to `log`.
    pub fn start_logging(
        data: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
        log: impl Into<Stdio>,
    ) -> Server {
        let mut args = vec!["hq", "serve"];
        if !extra.contains(&"--listen") {
            args.extend(["--listen", "127.0.0.1:0"]);
        }
        let mut child = Command::new(BIN)
            .arg("--data")
            .arg(data)
            .args(args)
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        // Lines it prints before the last, which says where it serves (another says where
        // clients' addresses come from, with --proxy-protocol).
        let mut metrics = None;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = match lines.next() {
                Some(Ok(line)) => line,
                end => panic!("hq serve ended its output ({end:?}) before serving"),
            };
            if let Some(url) = line.split("metrics for monitoring on ").nth(1) {
                // The URL, without what follows it (whether a token is asked for).
                metrics = url.split_whitespace().next().map(str::to_string);
            } else if let Some(url) = line.split("serving on ").nth(1) {
                break url.trim().to_string();
            }
        };
        Server {
            child,
            url,
            metrics,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How it ended, if it has.
    pub fn ended(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Stops it as an operator would (SIGTERM), waiting for it to finish.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// Sends it SIGHUP, as `systemctl reload` would.
    pub fn hang_up(&self) {
        let _ = Command::new("kill")
            .arg("-HUP")
            .arg(self.child.id().to_string())
            .status();
    }

    /// Kills it as a power cut would (SIGKILL).
    pub fn kill(mut self) {
        self.sigkill();
    }

    /// As [`Server::kill`], in place (for a server about to be replaced).
    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Till {
    /// A till enrolled with the headquarters at `url`.
    pub fn enrolled(url: &str, code: &str) -> Till {
        let till = Till::empty();
        till.ok(&["enroll", "--hq", url, "--code", code, "--lead-pin", PIN]);
        till
    }

    /// One sync pass with a short time limit.
    pub fn sync(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["sync", "--timeout", "15"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    pub fn synced(&self) {
        let out = self.sync(&[]);
        assert!(
            out.status.success(),
            "sync failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The till's device secret, read from its database (for playing a rogue till, or a
    /// hub that relays its sync and so sees it).
    pub fn secret(&self) -> String {
        self.db()
            .query_row(
                "SELECT value FROM meta WHERE key = 'device_secret'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// The secret of the signing key the till made at enrolment (its bundles and slips; for
    /// signing a hand-made bundle).
    pub fn signing_secret(&self) -> String {
        self.db()
            .query_row(
                "SELECT value FROM meta WHERE key = 'signing_secret'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// `(sale number, total)` of every sale of this till.
    pub fn sale_totals(&self) -> Vec<(String, i64)> {
        self.sales()
            .iter()
            .map(|s| {
                (
                    s["sale"].as_str().unwrap().to_string(),
                    s["total_fen"].as_i64().unwrap(),
                )
            })
            .collect()
    }
}

/// What a server at `at` answers `bytes` sent on a plain TCP connection, read until it
/// closes (20 s at most): empty when it closes without answering (a reset, which a close
/// with the bytes unread may come as, included).
pub fn answer_to_raw(at: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(at).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// Waits a little: for tests that must let a background server act.
pub fn pause(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

impl Till {
    /// Syncs with the headquarters at `url` (rather than the one enrolled with).
    pub fn synced_with(&self, url: &str) {
        let out = self.sync(&["--hq", url]);
        assert!(
            out.status.success(),
            "sync with {url} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
