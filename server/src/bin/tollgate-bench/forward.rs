//! The bare forwarder: the cheapest possible proxy built from the same parts as Tollgate
//! (axum serving, the same upstream client, the same runtime and allocator defaults), passing
//! `/v1/chat/completions` bodies and answers through untouched. No key, no policy, no
//! money, no log.
//!
//! It answers how much of the gap to direct is the second HTTP hop itself: on two cores
//! shared with the generator and the mock, a proxy that does nothing still pays for a
//! server and a client per request, as much CPU as the generator and the mock together.
//! Tollgate's own cost is the gap between it and this forwarder.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;
use server::http::client::{self, HttpClient};
use std::net::SocketAddr;
use std::sync::Arc;

struct Upstream {
    uri: Uri,
    http: HttpClient,
}

/// Serves until the process is killed, forwarding to `upstream` (a chat completions URL).
pub async fn serve(listen: SocketAddr, upstream: Uri) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    let upstream = Arc::new(Upstream { uri: upstream, http: HttpClient::default() });
    let router = Router::new().route("/v1/chat/completions", post(forward)).with_state(upstream);
    axum::serve(listener, router).await
}

async fn forward(State(upstream): State<Arc<Upstream>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut call = client::post_json(upstream.uri.clone(), body);
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        call.headers_mut().insert(axum::http::header::AUTHORIZATION, value.clone());
    }
    match upstream.http.send(call).await {
        Ok(answer) => {
            let status = answer.status();
            let content_type = answer.headers().get(axum::http::header::CONTENT_TYPE).cloned();
            let mut response = Body::from_stream(client::body_stream(answer)).into_response();
            *response.status_mut() = status;
            if let Some(content_type) = content_type {
                response.headers_mut().insert(axum::http::header::CONTENT_TYPE, content_type);
            }
            response
        }
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}
