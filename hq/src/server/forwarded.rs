//! `hq serve --forwarded-for FROM`: behind an HTTP reverse proxy that ends TLS itself (nginx's
//! `proxy_pass`, HAProxy in `mode http` with `option forwardfor`, a cloud's application load
//! balancer), each request's client from the `X-Forwarded-For` header the proxy adds, and
//! whether that client came over HTTPS from `X-Forwarded-Proto`, instead of the proxy's
//! own address and plain HTTP.
//!
//! The headers are believed only on requests from the proxies named: anyone else's are
//! ignored, so a client cannot name another address to dodge the login throttle (unless
//! it is inside a network named, whose every address is believed: `hq serve` says so). Of the
//! addresses in `X-Forwarded-For` the rightmost that is not one of the proxies is the
//! client: a proxy appends the address it took the request from, and whatever the client
//! wrote itself stands left of it, never read. Of `X-Forwarded-Proto`, the last value
//! counts: the nearest proxy's. A request from a proxy with no such header is the proxy's
//! own (a health check). A header from a proxy that names something other than an address
//! is answered 400 and logged, a line a minute at most for each proxy.
//!
//! The same layer sets what the handlers read of the connection's security ([`Https`]): a
//! session cookie is `Secure`, and the response carries `Strict-Transport-Security`, when
//! the client's connection was TLS, to this server or to the proxy.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::proxy::Trusted;
use crate::quiet_log::QuietLog;
use crate::state::{Https, HOST_PREFIX};

/// How a request's client and scheme are found.
pub struct Forwarding {
    /// The reverse proxies whose headers are believed, if any, and the log of their bad
    /// headers.
    proxies: Option<(Trusted, Arc<QuietLog>)>,
    /// This server serves TLS itself.
    tls: bool,
}

impl Forwarding {
    /// On a runtime, with proxies: the log of their bad headers tells what it held back
    /// from a task of its own.
    pub fn new(proxies: Option<Trusted>, tls: bool) -> Arc<Forwarding> {
        let proxies = proxies.map(|proxies| (proxies, QuietLog::told_when_due()));
        Arc::new(Forwarding { proxies, tls })
    }
}

/// The layer: the client's address (axum's `ConnectInfo`, which the throttle and the log
/// read) and [`Https`] for the handlers; `Strict-Transport-Security` on responses to HTTPS.
pub async fn client(
    State(forwarding): State<Arc<Forwarding>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    let mut https = forwarding.tls;
    if let (Some((proxies, refused)), Some(peer)) = (&forwarding.proxies, peer) {
        if proxies.admits(peer.ip()) {
            match client_named(request.headers(), proxies) {
                Ok(Some(client)) => {
                    // The proxy's port to the client is not told: 0.
                    let client = ConnectInfo(SocketAddr::new(client, 0));
                    request.extensions_mut().insert(client);
                }
                Ok(None) => {}
                Err(why) => {
                    let line = format!("request from the proxy {peer} refused: {why}");
                    refused.write(peer.ip().to_string(), line);
                    return (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response();
                }
            }
            https = https || came_over_https(request.headers());
        }
    }
    request.extensions_mut().insert(Https(https));
    if https {
        host_only_cookies(request.headers_mut());
    }
    let mut response = next.run(request).await;
    if https {
        // Browsers are to come back over HTTPS only, for a year.
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// The dashboard's own cookies, whose names begin so.
const OURS: &str = "fairpos_";

/// Over HTTPS, the dashboard's cookies are set with the `__Host-` prefix
/// ([`Https::cookie_name`]), which no other host can set. One of the same name without the
/// prefix is one such a host (a sibling subdomain) could have set, to plant a session or a
/// login form's token: it is dropped, and the prefixed one is passed on under its plain
/// name, so that the handlers read one name either way.
pub(crate) fn host_only_cookies(headers: &mut HeaderMap) {
    let sent: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(str::to_string)
        .collect();
    let kept: Vec<String> = sent
        .into_iter()
        .filter_map(|pair| {
            let name = pair.split_once('=').map_or(pair.as_str(), |(name, _)| name);
            match name.strip_prefix(HOST_PREFIX) {
                Some(plain) if plain.starts_with(OURS) => Some(pair[HOST_PREFIX.len()..].into()),
                None if name.starts_with(OURS) => None,
                _ => Some(pair),
            }
        })
        .collect();
    headers.remove(header::COOKIE);
    if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
        if !kept.is_empty() {
            headers.insert(header::COOKIE, value);
        }
    }
}

/// The client `X-Forwarded-For` names: the rightmost address that is not a proxy's (the
/// leftmost when all are); `None` without the header.
fn client_named(headers: &HeaderMap, proxies: &Trusted) -> Result<Option<IpAddr>, String> {
    // Read from the right, entry by entry, as bytes: what stands left of the client (the
    // client's own writing) is never decoded.
    let named = (headers.get_all("x-forwarded-for").iter().rev())
        .flat_map(|line| line.as_bytes().rsplit(|&b| b == b','));
    let mut leftmost = None;
    for item in named {
        let item = item.trim_ascii();
        let address = std::str::from_utf8(item).ok().and_then(address_in);
        let address = address.ok_or_else(|| {
            let item = String::from_utf8_lossy(item);
            format!("X-Forwarded-For names {item:?}, which is not an address (the proxy's setting)")
        })?;
        if !proxies.admits(address) {
            return Ok(Some(address));
        }
        leftmost = Some(address);
    }
    Ok(leftmost)
}

/// An address as proxies write one: `192.0.2.7`, `2001:db8::7`, with a port
/// (`192.0.2.7:5000`, `[2001:db8::7]:5000`) or in brackets.
fn address_in(item: &str) -> Option<IpAddr> {
    let address = item
        .parse::<IpAddr>()
        .ok()
        .or_else(|| item.parse::<SocketAddr>().ok().map(|at| at.ip()))
        .or_else(|| {
            let inner = item.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
        })?;
    Some(address.to_canonical())
}

/// Whether `X-Forwarded-Proto` says the client came over HTTPS: its last value, the one the
/// proxy nearest to headquarters wrote (nginx's `proxy_set_header` and HAProxy's
/// `set-header` replace whatever the client sent; a proxy that appends puts its own last).
fn came_over_https(headers: &HeaderMap) -> bool {
    headers
        .get_all("x-forwarded-proto")
        .iter()
        .next_back()
        .and_then(|line| line.as_bytes().rsplit(|&b| b == b',').next())
        .is_some_and(|scheme| scheme.trim_ascii().eq_ignore_ascii_case(b"https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn over_https_only_the_host_only_cookies_are_read_under_their_plain_names() {
        let mut sent = headers(&[
            ("cookie", "fairpos_session=planted; other=1"),
            (
                "cookie",
                "__Host-fairpos_session=mine; __Host-fairpos_csrf=c; fairpos_csrf=x",
            ),
        ]);
        host_only_cookies(&mut sent);
        let cookie: Vec<_> = sent.get_all(header::COOKIE).iter().collect();
        assert_eq!(cookie, ["other=1; fairpos_session=mine; fairpos_csrf=c"]);
        // Only a planted one: nothing of ours is read.
        let mut planted = headers(&[("cookie", "fairpos_session=planted")]);
        host_only_cookies(&mut planted);
        assert!(planted.get(header::COOKIE).is_none());
        assert_eq!(
            Https(true).cookie_name("fairpos_session"),
            "__Host-fairpos_session"
        );
        assert_eq!(
            Https(false).cookie_name("fairpos_session"),
            "fairpos_session"
        );
    }

    #[test]
    fn the_client_is_the_rightmost_address_no_proxy_has() {
        let proxies = Trusted::parse("--forwarded-for", "10.0.0.2,10.0.1.0/24").unwrap();
        let named = |value: &str| client_named(&headers(&[("x-forwarded-for", value)]), &proxies);
        assert_eq!(named("192.0.2.7"), Ok(ip("192.0.2.7")));
        // Whatever the client wrote itself stands left of what its proxy added.
        assert_eq!(named("203.0.113.9, 192.0.2.7"), Ok(ip("192.0.2.7")));
        // Proxies in a chain are passed over.
        assert_eq!(
            named("203.0.113.9, 192.0.2.7, 10.0.1.5, 10.0.0.2"),
            Ok(ip("192.0.2.7"))
        );
        assert_eq!(named("10.0.1.5,10.0.0.2"), Ok(ip("10.0.1.5")));
        // Ports, brackets, IPv6 and IPv4-mapped addresses.
        assert_eq!(named("192.0.2.7:5000"), Ok(ip("192.0.2.7")));
        assert_eq!(named("[2001:db8::7]:5000"), Ok(ip("2001:db8::7")));
        assert_eq!(named("[2001:db8::7]"), Ok(ip("2001:db8::7")));
        assert_eq!(named("::ffff:192.0.2.7"), Ok(ip("192.0.2.7")));
        // A header on several lines reads as one list.
        let lines = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-for", "192.0.2.7, 10.0.0.2"),
        ]);
        assert_eq!(client_named(&lines, &proxies), Ok(ip("192.0.2.7")));
        // None: the proxy's own request.
        assert_eq!(client_named(&HeaderMap::new(), &proxies), Ok(None));
        // Something else where the proxy's address should be.
        let refused = named("192.0.2.7, unknown").unwrap_err();
        assert!(refused.contains("\"unknown\""), "{refused}");
        // Left of the client, anything at all: it is never read.
        assert_eq!(named("garbage, 192.0.2.7"), Ok(ip("192.0.2.7")));
        let mut bytes = HeaderMap::new();
        let raw = HeaderValue::from_bytes(b"\xff\xfe, 192.0.2.7").unwrap();
        bytes.append("x-forwarded-for", raw);
        assert_eq!(client_named(&bytes, &proxies), Ok(ip("192.0.2.7")));
    }

    #[test]
    fn https_as_the_nearest_proxy_says() {
        let proto = |value: &str| came_over_https(&headers(&[("x-forwarded-proto", value)]));
        assert!(proto("https"));
        assert!(proto("HTTPS"));
        assert!(proto("http, https"));
        assert!(!proto("http"));
        // The client's own `https`, before the proxy's `http`.
        assert!(!proto("https, http"));
        let lines = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-proto", "http"),
        ]);
        assert!(!came_over_https(&lines));
        assert!(!came_over_https(&HeaderMap::new()));
        assert_eq!(Https(true).cookie_attributes(), "; Secure");
        assert_eq!(Https(false).cookie_attributes(), "");
    }
}
