//! The headers every response of the server carries: what a page may load and who may frame
//! it, and that nothing of it is cached.

/// What every page may load and who may frame it: nothing from elsewhere, no inline
/// script, no framing; the big screen's too (its own lacked `object-src` and `base-uri`).
/// A route that sets its own policy keeps it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers every response carries.
pub(super) async fn security_headers(
    mut response: axum::response::Response,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Pages, figures and downloads are an account's: a shared tablet's cache or back button
    // keeps none of them after a logout. Routes that say otherwise (the screen's event
    // stream) keep theirs.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
