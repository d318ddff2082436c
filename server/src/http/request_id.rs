//! Every response carries `x-request-id`: our own fresh UUIDv7, never the client's.
//!
//! A client-sent `x-request-id` is kept as [`ClientRequestId`] (for the usage log) and
//! replaced, so an id a client chose can never collide with or impersonate ours.

use app::request_id;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

/// The `x-request-id` the client sent, if any.
#[derive(Debug, Clone)]
pub struct ClientRequestId(pub String);

pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = request_id::generate();
    if let Some(client_id) = request.headers_mut().remove(HEADER) {
        if let Ok(client_id) = client_id.to_str() {
            request.extensions_mut().insert(ClientRequestId(client_id.to_owned()));
        }
    }
    let header = HeaderValue::from_str(&id).expect("a UUID is a valid header value");
    request.headers_mut().insert(HEADER, header.clone());
    let mut response = request_id::scope(id, next.run(request)).await;
    response.headers_mut().insert(HEADER, header);
    response
}

/// Opens the request's log span, named by the id [`assign`] gave it (the id alone: the
/// usage row or audit entry under it has the rest). Layered on the console, management
/// API and health routes, not on the data plane: there, opening a span (the log formats
/// its fields) and entering it at every poll cost 2 % of the gateway's CPU at full load,
/// every outcome is in the usage row under the id, and its one request-time log line
/// names the id itself.
pub async fn log_span(request: Request, next: Next) -> Response {
    let span = match request_id::current() {
        Some(id) => tracing::info_span!("request", request_id = %id),
        None => tracing::Span::none(),
    };
    next.run(request).instrument(span).await
}
