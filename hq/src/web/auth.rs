//! Who is asking: the login form and session cookie (or a bearer token) of an account, and
//! what its role lets it see.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::header::{self, HeaderName};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use serde::Deserialize;

use super::{failure, views, STYLE};
use crate::accounts::{self, Account, FIRST_ORGANIZER};
use crate::devices::Peer;
use crate::known_browser;
use crate::sessions::Opened;
use crate::state::{AppState, Https};
use crate::throttle::{Attempt, Refused};
use crate::Error;
use fairpos_sync::keys;

const COOKIE: &str = "fairpos_session";
/// The login form's anti-forgery token: set as a cookie with the form, and sent back in it
/// (a double-submit token: another site can make a browser post, not read the cookie).
const CSRF_COOKIE: &str = "fairpos_csrf";

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookies(headers, name).into_iter().next()
}

/// Every value of the cookie `name` the request carries (a browser sends one for each path
/// or domain that set it), in the order sent.
fn cookies(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .collect()
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE)
}

/// The account behind a request, by cookie or bearer token: checked on a reading connection
/// on a blocking thread (not on the async workers, which the sync sockets need, nor behind
/// the writer).
/// An error when the database could not say: a busy pool or a failover is not a logout (it
/// was taken for one: 401 "please log in", and a script threw its good token away).
pub(crate) async fn viewer(
    state: &AppState,
    headers: &HeaderMap,
) -> crate::Result<Option<Account>> {
    match session_token(headers) {
        Some(token) => account_of(state, token).await,
        None => Ok(None),
    }
}

/// The dashboard session's token a request carries: its cookie, or a bearer token.
pub(crate) fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie_token(headers).or_else(|| bearer(headers))
}

/// The token of an `Authorization: Bearer …` header (the scheme's name in any case, as
/// RFC 9110 has it).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("Bearer")
        .then(|| token.trim().to_string())
}

/// The account whose dashboard session `token` is, if it is one.
async fn account_of(state: &AppState, token: String) -> crate::Result<Option<Account>> {
    Ok(match state.peer_of(token).await? {
        Ok(Peer::Person { account, .. }) => Some(account),
        _ => None,
    })
}

/// Whether an organizer asks; an error when the database could not say.
pub(crate) async fn organizer(state: &AppState, headers: &HeaderMap) -> crate::Result<bool> {
    let viewer = viewer(state, headers).await?;
    Ok(viewer.is_some_and(|a| a.access.is_organizer()))
}

/// The page for a login whose role does not reach this page.
pub(crate) fn forbidden_page(account: &Account) -> Response {
    notice(
        StatusCode::FORBIDDEN,
        "此账号无权查看本页 This account may not see this page",
        (&account.access.home(), "返回 Back"),
    )
}

pub(crate) fn forbidden_json() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(serde_json::json!({ "error": "this account's role may not see this" })),
    )
        .into_response()
}

pub(crate) fn unauthorized_page() -> Response {
    notice(
        StatusCode::UNAUTHORIZED,
        "请登录 Please log in",
        ("/login", "登录 Log in"),
    )
}

/// A short page outside the dashboard's frame: one message and where to go next.
pub(crate) fn notice(status: StatusCode, message: &str, (href, label): (&str, &str)) -> Response {
    let page = views::Notice {
        style: STYLE,
        message,
        href,
        label,
    };
    match views::render(&page) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => failure(e),
    }
}

/// A 401 names how to authenticate (RFC 9110: it must): a bearer token, a device's or a
/// login's. Clients that try credentials only when asked did not.
pub(crate) fn asks_for_a_bearer_token(response: &mut Response) {
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer realm=\"fairpos\""),
    );
}

pub(crate) fn unauthorized_json() -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({ "error": "log in first" })),
    )
        .into_response();
    asks_for_a_bearer_token(&mut response);
    response
}

pub(crate) async fn login_form(
    State(state): State<AppState>,
    Extension(https): Extension<Https>,
) -> Response {
    let csrf = keys::new_secret();
    let set_csrf = format!(
        "{}={csrf}; HttpOnly; SameSite=Strict; Path=/{}",
        https.cookie_name(CSRF_COOKIE),
        https.cookie_attributes()
    );
    let page = views::Login {
        style: STYLE,
        fair: &state.fair.name,
        csrf: &csrf,
        first_organizer: FIRST_ORGANIZER,
    };
    let page = match views::render(&page) {
        Ok(html) => Html(html),
        Err(e) => return failure(e),
    };
    ([(header::SET_COOKIE, set_csrf)], page).into_response()
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    /// Empty or missing: the first organizer account.
    #[serde(default)]
    name: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Extension(https): Extension<Https>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let genuine = cookie(&headers, CSRF_COOKIE)
        .is_some_and(|c| !form.csrf.is_empty() && keys::same_secret(&c, &form.csrf));
    if !genuine {
        return notice(
            StatusCode::FORBIDDEN,
            "表单已失效 The form has expired or did not come from this site",
            ("/login", "重新登录 Log in again"),
        );
    }
    let browser = cookies(&headers, known_browser::COOKIE);
    let via = ("dashboard", browser.as_slice());
    match log_in(&state, from.ip(), &form.name, form.password, via).await {
        Ok(opened) => {
            // The session this browser held, if any, ends: its cookie is overwritten, and
            // the session would otherwise stay open, out of its holder's reach, for hours.
            if let Some(before) = cookie_token(&headers) {
                let why = "dashboard: a new login on the browser";
                if let Err(e) = end_session(&state, before, from.ip(), why).await {
                    eprintln!("ending the session a browser held before its login: {e}");
                }
            }
            let cookies = login_cookies(&state, https, &opened);
            let home = Redirect::to(&opened.account.access.home());
            (AppendHeaders(cookies), home).into_response()
        }
        Err(LoginRefused::TooMany(refused)) => {
            let message = format!(
                "失败次数过多，请 {0} 秒后再试 Too many failed attempts: try again in {0} s",
                refused.seconds
            );
            let page = notice(
                StatusCode::TOO_MANY_REQUESTS,
                &message,
                ("/login", "登录 Log in"),
            );
            (refused.retry_after(), page).into_response()
        }
        Err(LoginRefused::Wrong(_)) => notice(
            StatusCode::UNAUTHORIZED,
            "账号或密码错误 Wrong account or password",
            ("/login", "再试 Try again"),
        ),
        Err(LoginRefused::Failed(e)) => failure(e),
    }
}

/// What a browser that logged in keeps: the session's cookie, and the one that makes it
/// known to the account from now on ([`known_browser`]).
fn login_cookies(state: &AppState, https: Https, opened: &Opened) -> [(HeaderName, String); 2] {
    let secure = https.cookie_attributes();
    let session = format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        https.cookie_name(COOKIE),
        opened.token,
        state.sessions.absolute.num_seconds(),
    );
    let account = &opened.account.name;
    let known = state.browsers.cookie_for(account, &opened.password_hash);
    let known = format!(
        "{}={known}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        https.cookie_name(known_browser::COOKIE),
        known_browser::LIFETIME_S,
    );
    [(header::SET_COOKIE, session), (header::SET_COOKIE, known)]
}

/// Why a login did not open a session.
pub(crate) enum LoginRefused {
    /// Too many failures from the address or to the account: the wait.
    TooMany(Refused),
    /// A wrong name or password (counted).
    Wrong(Error),
    /// The server failed (not counted).
    Failed(Error),
}

/// A login from `address` to the account named `given` (trimmed; the first organizer when
/// empty) `via` the dashboard or the API, from a browser with these cookies of
/// [`known_browser`] (none, or one per path or domain that set it), counted by the throttle
/// before it is checked (against the browser alone when a cookie is one of an earlier login
/// to the account, its password unchanged since):
/// the session opened. The password is checked on a blocking thread, the database
/// locked only to read the account and to open the session (not while Argon2 runs). An
/// unknown name costs the same Argon2 run as a wrong password, so the time taken does not
/// tell which names exist. A login that opens a session, and one refused for a wrong name or
/// password, go in the audit log (one the throttle refuses unchecked does not: those are as
/// many as a guesser sends, and the lockout is logged); a name that is no account's is not
/// written down, as it may be a password typed in the wrong field.
pub(crate) async fn log_in(
    state: &AppState,
    address: IpAddr,
    given: &str,
    password: String,
    (via, browser): (&str, &[String]),
) -> std::result::Result<Opened, LoginRefused> {
    let name = accounts::login_name(given);
    let known = known_to(state, &name, browser).await;
    let counted_as = state.browsers.throttle_name(&name);
    let attempt = Attempt::login(&state.throttle, address, &counted_as, known.as_deref())
        .await
        .map_err(LoginRefused::TooMany)?;
    let result = state.open_session_checked(name.clone(), password).await;
    match result {
        Ok(opened) => {
            attempt.succeeded().await;
            state
                .audit(&opened.account.name, address, "login", via)
                .await;
            Ok(opened)
        }
        Err(e @ Error::Input(_)) => {
            attempt.failed();
            let actor = match state.is_account(name.clone()).await {
                Ok(true) => name,
                Ok(false) => crate::audit::NO_SUCH_ACCOUNT.to_string(),
                Err(e) => {
                    eprintln!("looking up an account for the audit log: {e}");
                    crate::audit::NO_SUCH_ACCOUNT.to_string()
                }
            };
            let why = format!("{via}: wrong name or password");
            state.audit(&actor, address, "login refused", &why).await;
            Err(LoginRefused::Wrong(e))
        }
        Err(e) => {
            attempt.void().await;
            Err(LoginRefused::Failed(e))
        }
    }
}

/// The nonce of the first of `cookies` that makes the browser known to the account `name`
/// as its password stands ([`known_browser`]), if any. The password's hash is read only when
/// the browser sends a cookie whose nonce headquarters made for the account; a failure to
/// read it leaves the browser unknown.
async fn known_to(state: &AppState, name: &str, cookies: &[String]) -> Option<String> {
    if !cookies.iter().any(|c| state.browsers.may_vouch(c, name)) {
        return None;
    }
    let hash = match state.password_hash_of(name.to_string()).await {
        Ok(hash) => hash?,
        Err(e) => {
            eprintln!("checking a known browser's cookie for {name}: {e}");
            return None;
        }
    };
    let vouched = |cookie: &String| state.browsers.vouches_for(cookie, name, &hash);
    cookies.iter().find_map(vouched)
}

/// Ends the session of `token`, written in the audit log as a logout of its account `via`
/// what (when it names one).
async fn end_session(
    state: &AppState,
    token: String,
    from: IpAddr,
    via: &str,
) -> crate::Result<()> {
    // The logout goes ahead though the account could not be read (only its log line lacks).
    let account = account_of(state, token.clone()).await.ok().flatten();
    state.log_out(token).await?;
    if let Some(account) = account {
        state.audit(&account.name, from, "logout", via).await;
    }
    Ok(())
}

/// Asks before logging out: a link (a bookmark, a page's way out) leads here and changes
/// nothing; the page's button posts to [`logout`]. No one logged in is sent to the login.
pub(crate) async fn logout_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let account = match viewer(&state, &headers).await {
        Ok(Some(account)) => account,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return failure(e),
    };
    let page = views::LogoutPage {
        style: STYLE,
        fair: &state.fair.name,
        back: &account.access.home(),
    };
    match views::render(&page) {
        Ok(html) => Html(html).into_response(),
        Err(e) => failure(e),
    }
}

/// Whether a browser's request came from a page of this site: `Sec-Fetch-Site` says so
/// (every current browser sends it), or, without it, an `Origin` naming this host, as the
/// request names it or as a reverse proxy passed it on (`X-Forwarded-Host`: a proxy that
/// sets `Host` to its upstream left older browsers no way to log out). A request with
/// neither came from no web page (a script, `curl`), which no other site can make a browser
/// send; nor can another site's form set a header.
pub(crate) fn from_this_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some((_, origin_host)) = origin.to_str().ok().and_then(|o| o.split_once("://")) else {
        return false;
    };
    let named = |name: &str| {
        let value = headers.get(name).and_then(|h| h.to_str().ok());
        // A proxy behind another appends: the first is the browser's.
        let first = value.and_then(|v| v.split(',').next()).map(str::trim);
        first.is_some_and(|host| host.eq_ignore_ascii_case(origin_host))
    };
    named("host") || named("x-forwarded-host")
}

/// `POST /logout`: ends the session of the cookie, or of the bearer token (one
/// `POST /api/v1/login` gave), if it names one (written in the audit log with its account),
/// and sends the browser to the login page. A post from another site's page is refused (a
/// link or a hidden form there logged the organizer out; `GET` did, which a link, a
/// prefetch or an image could ask).
pub(crate) async fn logout(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Extension(https): Extension<Https>,
    headers: HeaderMap,
) -> Response {
    if !from_this_site(&headers) {
        return notice(
            StatusCode::FORBIDDEN,
            "此请求并非来自本站 This request did not come from this site",
            ("/logout", "退出 Log out"),
        );
    }
    let presented = match cookie_token(&headers) {
        Some(token) => Some((token, "dashboard")),
        None => bearer(&headers).map(|token| (token, "api")),
    };
    if let Some((token, via)) = presented {
        if let Err(e) = end_session(&state, token, from.ip(), via).await {
            eprintln!("ending a session: {e}");
        }
    }
    (
        [(
            header::SET_COOKIE,
            format!(
                "{}=; Max-Age=0; Path=/{}",
                https.cookie_name(COOKIE),
                https.cookie_attributes()
            ),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_is_read_whatever_the_case_of_its_scheme() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            bearer(&headers)
        };
        for value in ["Bearer abc", "bearer abc", "BEARER  abc"] {
            assert_eq!(with(value).as_deref(), Some("abc"), "{value}");
        }
        assert_eq!(with("Basic abc"), None);
        assert_eq!(with("Bearerabc"), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn only_a_post_from_this_sites_pages_or_from_no_page_logs_out() {
        let with = |pairs: &[(&'static str, &str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, value.parse().unwrap());
            }
            from_this_site(&headers)
        };
        assert!(with(&[]), "a script");
        assert!(with(&[("sec-fetch-site", "same-origin")]));
        assert!(with(&[("sec-fetch-site", "none")]), "typed by its user");
        assert!(!with(&[("sec-fetch-site", "cross-site")]));
        assert!(
            !with(&[("sec-fetch-site", "same-site")]),
            "a sibling subdomain"
        );
        let host = ("host", "hq.example.cn:8443");
        assert!(with(&[host, ("origin", "https://hq.example.cn:8443")]));
        assert!(with(&[host, ("origin", "https://HQ.example.cn:8443")]));
        assert!(!with(&[host, ("origin", "https://evil.example:8443")]));
        assert!(!with(&[host, ("origin", "null")]), "a sandboxed page");
        assert!(
            !with(&[("origin", "https://hq.example.cn:8443")]),
            "no host"
        );
        // Behind a proxy that sets Host to its upstream, as it passes the browser's on.
        let upstream = ("host", "127.0.0.1:8080");
        let passed = ("x-forwarded-host", "hq.example.cn:8443");
        assert!(with(&[
            upstream,
            passed,
            ("origin", "https://hq.example.cn:8443")
        ]));
        assert!(!with(&[
            upstream,
            passed,
            ("origin", "https://evil.example")
        ]));
        // Sec-Fetch-Site, when sent, decides.
        let cross = ("sec-fetch-site", "cross-site");
        assert!(!with(&[
            host,
            cross,
            ("origin", "https://hq.example.cn:8443")
        ]));
    }
}
