//! HTTP plumbing shared by every route: request ids, JSON bodies, query strings, fallbacks,
//! browser protections (CSRF, security headers), session cookies that name no session,
//! and the client that calls upstreams.

pub mod client;
pub mod csrf;
pub mod json;
pub mod query;
pub mod request_id;
pub mod security_headers;
pub mod serve;
pub mod session_cookie;

use app::error::AppError;
use axum::extract::OriginalUri;
use axum::http::Method;

/// Unknown routes answer in the contract's error shape.
pub async fn unknown_route(method: Method, OriginalUri(uri): OriginalUri) -> AppError {
    AppError::UnknownRoute { method: method.to_string(), path: uri.path().to_owned() }
}

pub async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> AppError {
    AppError::MethodNotAllowed { method: method.to_string(), path: uri.path().to_owned() }
}
