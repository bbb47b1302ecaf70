//! The organizers' HTTP API on a running headquarters, as a test drives it.
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

use super::hq::PASSWORD;

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
