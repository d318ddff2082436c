//! Headers every console page and management-API answer carries, so a browser never frames,
//! sniffs, caches or leaks through the referrer what the console shows (one-time secrets
//! among it). Console pages set their own `Content-Security-Policy`, with the response's
//! script nonce (`app::app::shell`); everything else gets one that allows nothing.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// Whether the console is served over HTTPS (its cookies are `Secure`): then browsers are
/// told to keep to HTTPS.
#[derive(Debug, Clone, Copy)]
pub struct Https(pub bool);

const NOTHING_ALLOWED: HeaderValue =
    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
const ONE_YEAR_OF_HTTPS: HeaderValue = HeaderValue::from_static("max-age=31536000");
/// The compiled console (wasm, JS, CSS) is the same for everyone and may be cached.
const STATIC_ASSETS: &str = "/pkg/";

pub async fn add(State(Https(https)): State<Https>, request: Request, next: Next) -> Response {
    let cacheable = request.uri().path().starts_with(STATIC_ASSETS);
    let mut response = next.run(request).await;
    set(response.headers_mut(), cacheable, https);
    response
}

fn set(headers: &mut HeaderMap, cacheable: bool, https: bool) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, NOTHING_ALLOWED);
    }
    if !cacheable {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, ONE_YEAR_OF_HTTPS);
    }
}
