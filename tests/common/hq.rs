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

/// The organizers' HTTP API on a running headquarters.
pub struct Api {
    base: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api::built(base, None, None, usize::MAX)
    }

    /// As [`Api::new`], its connections from the loopback address `local` (any of 127/8, to
    /// play several clients) when given, trusting the CA certificate (PEM) `ca` too, and
    /// each request on a connection of its own (which a load balancer may pass to another
    /// server).
    pub fn from(base: &str, local: Option<std::net::IpAddr>, ca: Option<&Path>) -> Api {
        Api::built(base, local, ca, 0)
    }

    fn built(
        base: &str,
        local: Option<std::net::IpAddr>,
        ca: Option<&Path>,
        idle_connections: usize,
    ) -> Api {
        fairpos_sync::tls::install_crypto_provider();
        // Redirects are answers to look at (a role sent to its first page).
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(local)
            .pool_max_idle_per_host(idle_connections);
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).unwrap();
            client = client.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        Api {
            base: base.to_string(),
            client: client.build().unwrap(),
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    /// Status and JSON body (`null` when not JSON) of `GET path`, with a bearer token or none.
    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.runtime.block_on(async {
            let mut request = self.client.get(format!("{}{path}", self.base));
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json().await.unwrap_or(Value::Null))
        })
    }

    /// The statuses of `n` requests `GET path` sent at once, each given a minute (0: no
    /// answer within it).
    pub fn get_at_once(&self, path: &str, token: Option<&str>, n: usize) -> Vec<u16> {
        self.runtime.block_on(async {
            let requests = (0..n).map(|_| {
                let mut request = self
                    .client
                    .get(format!("{}{path}", self.base))
                    .timeout(std::time::Duration::from_secs(60));
                if let Some(t) = token {
                    request = request.bearer_auth(t);
                }
                async move {
                    match request.send().await {
                        Ok(answer) => answer.status().as_u16(),
                        Err(_) => 0,
                    }
                }
            });
            futures::future::join_all(requests).await
        })
    }

    /// Status and JSON body (`null` when not JSON) of `POST path` with the JSON `body`.
    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|b| ("authorization", b.as_str()))
            .collect();
        self.post_with(path, &headers, body)
    }

    /// Status, `Retry-After` (empty when it says none) and JSON body of `POST path`.
    pub fn post_retry_after(&self, path: &str, body: &Value) -> (u16, String, Value) {
        self.runtime.block_on(async {
            let request = self.client.post(format!("{}{path}", self.base)).json(body);
            let answer = request.send().await.unwrap();
            let retry_after = answer
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let status = answer.status().as_u16();
            (
                status,
                retry_after,
                answer.json().await.unwrap_or(Value::Null),
            )
        })
    }

    /// As [`Api::post`], with the request headers `headers`.
    pub fn post_with(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
        self.runtime.block_on(async {
            let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json().await.unwrap_or(Value::Null))
        })
    }

    /// The status of `GET path` as a browser holding `cookie` (`name=value`).
    pub fn status_with_cookie(&self, path: &str, cookie: &str) -> u16 {
        self.runtime.block_on(async {
            let request = self.client.get(format!("{}{path}", self.base));
            let answer = request.header("cookie", cookie).send().await.unwrap();
            answer.status().as_u16()
        })
    }

    /// Logs in to `name` with the dashboard's form, as a browser holding `cookies`
    /// (`a=1; b=2`) does, with the login page's anti-forgery token: the status and the
    /// cookies set (`name=value` each).
    pub fn form_login(&self, name: &str, password: &str, cookies: &str) -> (u16, Vec<String>) {
        let set = |answer: &reqwest::Response| -> Vec<String> {
            let values = answer.headers().get_all("set-cookie").iter();
            values
                .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
                .collect()
        };
        self.runtime.block_on(async {
            let page = self.client.get(format!("{}/login", self.base));
            let page = page.send().await.unwrap();
            let csrf_cookie = set(&page).join("; ");
            let field = csrf_field(&page.text().await.unwrap());
            // Names and passwords of letters, digits and '-' need no escaping.
            let form = format!("csrf={field}&name={name}&password={password}");
            let answer = self
                .client
                .post(format!("{}/login", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", format!("{csrf_cookie}; {cookies}"))
                .body(form)
                .send()
                .await
                .unwrap();
            (answer.status().as_u16(), set(&answer))
        })
    }

    /// Status and body text of `GET path`, with no credentials.
    pub fn get_text(&self, path: &str) -> (u16, String) {
        let (status, _, body) = self.fetch(path, None, false);
        (status, body)
    }

    /// Status, `Location` and body text of `GET path` with a bearer token or none, and with
    /// the headers of a WebSocket upgrade when `upgrade`.
    pub fn fetch(&self, path: &str, token: Option<&str>, upgrade: bool) -> (u16, String, String) {
        self.runtime.block_on(async {
            let mut request = self.client.get(format!("{}{path}", self.base));
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            if upgrade {
                request = request
                    .header("connection", "upgrade")
                    .header("upgrade", "websocket")
                    .header("sec-websocket-version", "13")
                    .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
            }
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            let location = answer
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string())
                .unwrap_or_default();
            if status == 101 {
                // A switched connection has no body to wait for.
                return (status, location, String::new());
            }
            (status, location, answer.text().await.unwrap_or_default())
        })
    }

    /// Status, `Content-Type` and body text of `GET path` asking for `accept`.
    pub fn get_accepting(&self, path: &str, accept: &str) -> (u16, String, String) {
        self.runtime.block_on(async {
            let answer = self
                .client
                .get(format!("{}{path}", self.base))
                .header("accept", accept)
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            let kind = answer
                .headers()
                .get("content-type")
                .map(|t| t.to_str().unwrap().to_string())
                .unwrap_or_default();
            (status, kind, answer.text().await.unwrap_or_default())
        })
    }

    /// The answer to `POST /api/v1/login` with `body`.
    fn log_in(&self, body: Value) -> Value {
        self.runtime.block_on(async {
            let answer = self
                .client
                .post(format!("{}/api/v1/login", self.base))
                .json(&body)
                .send();
            answer.await.unwrap().json().await.unwrap()
        })
    }

    /// A session of account `name`; `None` when the login is refused.
    pub fn token_of(&self, name: &str, password: &str) -> Option<String> {
        let answer = self.log_in(serde_json::json!({ "name": name, "password": password }));
        Some(answer["token"].as_str()?.to_string())
    }

    /// An organizer session from `POST /api/v1/login`: `(token, peer id)`.
    pub fn login(&self) -> (String, String) {
        let answer = self.log_in(serde_json::json!({ "password": PASSWORD }));
        let field = |k: &str| {
            answer[k]
                .as_str()
                .unwrap_or_else(|| panic!("no {k} in {answer}"))
                .to_string()
        };
        (field("token"), field("peer_id"))
    }
}

/// The anti-forgery token in the login page `html` (its hidden field).
pub fn csrf_field(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no csrf field in {html}"))
        .to_string()
}
