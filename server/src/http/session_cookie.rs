//! A session cookie that names no session is no session, and no news.
//!
//! tower-sessions logs a WARN ("possibly suspicious activity") for every cookie whose value
//! is not a well-formed id and for every well-formed id its store does not hold, then treats
//! it as no session. Anyone can send such cookies, so they filled the log (37,000 lines in
//! one fuzzing run) and would hide what matters. This middleware, layered just outside the
//! session layer, takes those cookies out of the request first and notes it at debug; the
//! session layer then sees a request without a session cookie.

use crate::startup::SESSION_COOKIE;
use app::db::SessionStore;
use axum::extract::{Request, State};
use axum::http::header::COOKIE;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tower_sessions::cookie::Cookie;
use tower_sessions::session::Id;

pub async fn drop_unusable(State(sessions): State<SessionStore>, mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    let cookies: Vec<HeaderValue> = headers.get_all(COOKIE).iter().cloned().collect();
    let mut unusable = Vec::new();
    for header in cookies.iter().filter_map(readable) {
        for pair in header.split(';') {
            let usable = match session_value(pair) {
                None => true,
                Some(value) => names_live_session(&sessions, &value).await,
            };
            if !usable {
                unusable.push(pair.trim().to_owned());
            }
        }
    }
    if !unusable.is_empty() {
        headers.remove(COOKIE);
        for value in cookies {
            let kept = match readable(&value) {
                Some(header) => HeaderValue::from_str(&without(&header, &unusable)).ok(),
                // The cookie layer skips a header that is not UTF-8 anyway.
                None => Some(value),
            };
            if let Some(kept) = kept.filter(|kept| !kept.is_empty()) {
                headers.append(COOKIE, kept);
            }
        }
        tracing::debug!("ignored a session cookie that names no session");
    }
    next.run(request).await
}

fn readable(value: &HeaderValue) -> Option<String> {
    std::str::from_utf8(value.as_bytes()).ok().map(str::to_owned)
}

/// The value of `pair` if it is the session cookie, read exactly as the cookie layer reads
/// it (percent-decoded, trimmed).
pub fn session_value(pair: &str) -> Option<String> {
    let cookie = Cookie::parse_encoded(pair.to_owned()).ok()?;
    (cookie.name() == SESSION_COOKIE).then(|| cookie.value().to_owned())
}

/// Whether the value is an id of a session the store holds. When the store cannot say,
/// the cookie is left for the session layer, which reports the failure itself.
async fn names_live_session(sessions: &SessionStore, value: &str) -> bool {
    match value.parse::<Id>() {
        Ok(id) => sessions.holds(&id).await.unwrap_or(true),
        Err(_) => false,
    }
}

/// The header without the pairs in `dropped`.
fn without(header: &str, dropped: &[String]) -> String {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && !dropped.iter().any(|d| d == pair))
        .collect();
    kept.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_read_as_the_cookie_layer_reads_it() {
        let id = Id::default().to_string();
        assert_eq!(session_value(&format!(" {SESSION_COOKIE}={id}")), Some(id.clone()));
        assert_eq!(session_value("tollgate%5Fsession=x").as_deref(), Some("x"), "the name is percent-decoded");
        assert_eq!(session_value(&format!("{SESSION_COOKIE}=\"{id}\"")), Some(format!("\"{id}\"")), "quotes stay");
        assert_eq!(session_value("theme=dark"), None);
        assert!(format!("\"{id}\"").parse::<Id>().is_err() && format!("{id}A").parse::<Id>().is_err());
    }

    #[test]
    fn only_the_dropped_pairs_leave_the_header() {
        let header = format!("theme=dark; {SESSION_COOKIE}=bogus;lang=en");
        assert_eq!(without(&header, &[format!("{SESSION_COOKIE}=bogus")]), "theme=dark; lang=en");
        assert_eq!(without("theme=dark", &[]), "theme=dark");
    }
}
