//! The bare forwarder: the cheapest possible proxy built from the same parts as Tollgate
//! (axum serving, reqwest calling, the same runtime and allocator defaults), passing
//! `/v1/chat/completions` bodies and answers through untouched. No key, no policy, no
//! money, no log.
//!
//! It answers how much of the gap to direct is the second HTTP hop itself: on two cores
//! shared with the generator and the mock, a proxy that does nothing still pays for a
//! server and a client per request, as much CPU as the generator and the mock together.
//! Tollgate's own cost is the gap between it and this forwarder.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;

struct Upstream {
    url: reqwest::Url,
    http: reqwest::Client,
}

/// Serves until the process is killed, forwarding to `upstream` (a chat completions URL).
pub async fn serve(listen: SocketAddr, upstream: reqwest::Url) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    let http = reqwest::Client::builder().tcp_nodelay(true).build().map_err(std::io::Error::other)?;
    let upstream = Arc::new(Upstream { url: upstream, http });
    let router = Router::new().route("/v1/chat/completions", post(forward)).with_state(upstream);
    axum::serve(listener, router).await
}

async fn forward(State(upstream): State<Arc<Upstream>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut call = upstream.http.post(upstream.url.clone()).body(body);
    for name in [reqwest::header::AUTHORIZATION, reqwest::header::CONTENT_TYPE] {
        if let Some(value) = headers.get(&name) {
            call = call.header(name, value);
        }
    }
    match call.send().await {
        Ok(answer) => {
            let status = answer.status();
            let content_type = answer.headers().get(reqwest::header::CONTENT_TYPE).cloned();
            let mut response = Body::from_stream(answer.bytes_stream()).into_response();
            *response.status_mut() = status;
            if let Some(content_type) = content_type {
                response.headers_mut().insert(reqwest::header::CONTENT_TYPE, content_type);
            }
            response
        }
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}
