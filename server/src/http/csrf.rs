//! Cross-site request forgery. The browser sends the session cookie on requests that other
//! pages of the same *site* start (`SameSite=Lax` stops other sites, not another port of the
//! same host), so a change made with the cookie must show it came from the console's own
//! pages. Browsers say where a request came from in `Sec-Fetch-Site` and `Origin`; calls with
//! a management token (`Authorization: Bearer`) carry no ambient credential and pass.
//!
//! The same check keeps the redirect a plain form post gets (the framework sends the browser
//! back to its `Referer`) on the console's own paths.

use crate::http::session_cookie;
use app::error::AppError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

const API_SIGN_IN: &str = "/api/v1/session";

/// Where the console is served from, for comparing with a request's `Origin`.
#[derive(Debug, Clone, Default)]
pub struct ConsoleOrigin {
    /// `https://gateway.example.com` when a proxy in front rewrites `Host`; by default the
    /// request's own `Host` is the console's origin.
    configured: Option<String>,
}

impl ConsoleOrigin {
    pub fn new(configured: Option<&str>) -> ConsoleOrigin {
        ConsoleOrigin { configured: configured.map(|origin| origin.trim_end_matches('/').to_ascii_lowercase()) }
    }

    fn is_own(&self, origin: &str, headers: &HeaderMap) -> bool {
        let origin = origin.to_ascii_lowercase();
        match &self.configured {
            Some(configured) => origin == *configured,
            None => host(headers).is_some_and(|host| authority(&origin) == Some(host.as_str())),
        }
    }
}

/// Refuses cookie-authenticated changes from other origins; see the module comment.
pub async fn same_origin_changes(State(console): State<Arc<ConsoleOrigin>>, request: Request, next: Next) -> Response {
    if needs_origin_check(&request) {
        if let Err(refusal) = check_origin(&console, request.headers()) {
            return refusal.into_response();
        }
    }
    let own_host = host(request.headers());
    let mut response = next.run(request).await;
    keep_redirect_local(response.headers_mut(), own_host.as_deref());
    response
}

/// Server functions are only ever called by the console; the management API only when the
/// session cookie (not a bearer token) authenticates it. Reads change nothing, and signing
/// in through the API is authenticated by the password sent, not by a cookie left over.
fn needs_origin_check(request: &Request) -> bool {
    if request.method().is_safe() || (request.method() == Method::POST && request.uri().path() == API_SIGN_IN) {
        return false;
    }
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("Bearer "));
    request.uri().path().starts_with("/rpc/") || (!bearer && carries_session_cookie(headers))
}

fn carries_session_cookie(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .any(|pair| session_cookie::session_value(pair).is_some())
}

/// `Sec-Fetch-Site` (every current browser) is decisive when present; otherwise `Origin`
/// must be the console's. A request with neither is refused: browsers send `Origin` on
/// every cross-origin and form POST, so only a forger gains from its absence.
fn check_origin(console: &ConsoleOrigin, headers: &HeaderMap) -> Result<(), AppError> {
    let header_text = |name| headers.get(name).and_then(|value: &HeaderValue| value.to_str().ok());
    if let Some(site) = header_text("sec-fetch-site") {
        return if site.eq_ignore_ascii_case("same-origin") {
            Ok(())
        } else {
            Err(AppError::CrossOrigin { origin: format!("Sec-Fetch-Site: {site}") })
        };
    }
    match header_text(header::ORIGIN.as_str()) {
        Some(origin) if console.is_own(origin, headers) => Ok(()),
        Some(origin) => Err(AppError::CrossOrigin { origin: format!("Origin: {origin}") }),
        None => Err(AppError::CrossOrigin { origin: "no Origin header".to_owned() }),
    }
}

/// A redirect leaves only for a path of this console: an absolute URL naming this host
/// becomes its path, anything else (another host, `//host`, a scheme) becomes `/`.
fn keep_redirect_local(headers: &mut HeaderMap, own_host: Option<&str>) {
    let Some(location) = headers.get(header::LOCATION).and_then(|value| value.to_str().ok()) else {
        return;
    };
    let local = local_path(location, own_host);
    if local != location {
        let local = HeaderValue::from_str(&local).unwrap_or(HeaderValue::from_static("/"));
        headers.insert(header::LOCATION, local);
    }
}

fn local_path(location: &str, own_host: Option<&str>) -> String {
    let is_path = |path: &str| path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\");
    if is_path(location) {
        return location.to_owned();
    }
    let same_host_path = location.split_once("://").and_then(|(scheme, rest)| {
        let path_start = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(path_start);
        let web = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
        (web && own_host.is_some_and(|host| authority.eq_ignore_ascii_case(host)) && is_path(path))
            .then(|| path.to_owned())
    });
    same_host_path.unwrap_or_else(|| "/".to_owned())
}

fn host(headers: &HeaderMap) -> Option<String> {
    headers.get(header::HOST).and_then(|value| value.to_str().ok()).map(str::to_ascii_lowercase)
}

/// `scheme://host[:port]` without the scheme; `None` for `null` and other opaque origins.
fn authority(origin: &str) -> Option<&str> {
    origin.split_once("://").map(|(_, authority)| authority).filter(|authority| !authority.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_the_console() {
        let host = Some("127.0.0.1:8080");
        assert_eq!(local_path("/keys?x=1", host), "/keys?x=1");
        assert_eq!(local_path("http://127.0.0.1:8080/keys", host), "/keys");
        assert_eq!(local_path("http://127.0.0.1:9999/keys", host), "/");
        assert_eq!(local_path("https://evil.example/", host), "/");
        assert_eq!(local_path("//evil.example/x", host), "/");
        assert_eq!(local_path("/\\evil.example", host), "/");
        assert_eq!(local_path("javascript:alert(1)", host), "/");
        assert_eq!(local_path("http://127.0.0.1:8080//evil.example", host), "/");
    }

    #[test]
    fn the_origin_is_compared_with_the_host_or_the_configured_origin() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        let by_host = ConsoleOrigin::new(None);
        assert!(by_host.is_own("http://127.0.0.1:8080", &headers));
        assert!(!by_host.is_own("http://127.0.0.1:8081", &headers));
        assert!(!by_host.is_own("null", &headers));
        let configured = ConsoleOrigin::new(Some("https://Gateway.example.com/"));
        assert!(configured.is_own("https://gateway.example.com", &headers));
        assert!(!configured.is_own("http://127.0.0.1:8080", &headers));
    }
}
