//! The mock upstream: an OpenAI-compatible `/v1/chat/completions` that answers at once
//! with a fixed completion (with usage), or the same as SSE when `stream: true`.
//! It runs in its own process (`tollgate-bench mock`) so its CPU is not the load generator's.

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;
use serde::Deserialize;
use std::net::SocketAddr;

const COMPLETION: &str = concat!(
    r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"bench-upstream","#,
    r#""choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock upstream."},"#,
    r#""finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}"#
);

const STREAM: &str = concat!(
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench-upstream","#,
    r#""choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench-upstream","#,
    r#""choices":[{"index":0,"delta":{"content":" from the mock upstream."},"finish_reason":null}]}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench-upstream","#,
    r#""choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench-upstream","#,
    r#""choices":[],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}"#,
    "\n\n",
    "data: [DONE]\n\n"
);

const MAX_BODY: usize = 16 * 1024 * 1024;

/// Serves until the process is killed.
pub async fn serve(listen: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    // Without TCP_NODELAY, small answers wait for the client's delayed ACK (about 40 ms).
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    // The memory benchmark sends bodies of a few MB: more than axum's default 2 MB.
    let router = Router::new().route("/v1/chat/completions", post(chat)).layer(DefaultBodyLimit::max(MAX_BODY));
    axum::serve(listener, router).await
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    stream: bool,
}

async fn chat(body: Bytes) -> Response {
    // Parsing the body is what a real upstream does first; it keeps the mock honest.
    let stream = serde_json::from_slice::<Probe>(&body).is_ok_and(|probe| probe.stream);
    if stream {
        ([(CONTENT_TYPE, "text/event-stream")], STREAM).into_response()
    } else {
        ([(CONTENT_TYPE, "application/json")], COMPLETION).into_response()
    }
}
