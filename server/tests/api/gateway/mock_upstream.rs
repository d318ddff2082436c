//! A mock upstream provider on loopback. Each behaviour lives under its own path
//! prefix, so a channel's base URL picks it: `http://127.0.0.1:PORT/<behaviour>`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const UPSTREAM_SECRET: &str = "sk-upstream-very-secret-credential";

#[derive(Debug, Clone)]
pub struct Received {
    pub behaviour: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
pub struct Log {
    pub received: Mutex<Vec<Received>>,
    /// Streams whose body the mock saw dropped (the gateway hung up).
    pub streams_cancelled: AtomicUsize,
}

pub struct MockUpstream {
    pub base: String,
    pub log: Arc<Log>,
}

impl MockUpstream {
    pub async fn start() -> MockUpstream {
        let log = Arc::new(Log::default());
        let app = Router::new()
            .route("/{behaviour}/chat/completions", post(openai))
            .route("/{behaviour}/v1/messages", post(anthropic))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        MockUpstream { base, log }
    }

    pub fn url(&self, behaviour: &str) -> String {
        format!("{}/{behaviour}", self.base)
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.received.lock().unwrap().clone()
    }

    pub fn calls(&self, behaviour: &str) -> usize {
        self.received().iter().filter(|r| r.behaviour == behaviour).count()
    }
}

fn completion(text: &str, model: &str) -> Value {
    json!({
        "id": "chatcmpl-upstream-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    })
}

fn sse(events: Vec<String>, pause: Duration, log: Arc<Log>) -> Response {
    struct CancelGuard(Arc<Log>, bool);
    impl Drop for CancelGuard {
        fn drop(&mut self) {
            if !self.1 {
                self.0.streams_cancelled.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let stream = async_stream::stream! {
        let mut guard = CancelGuard(log, false);
        for event in events {
            tokio::time::sleep(pause).await;
            yield Ok::<_, std::io::Error>(event);
        }
        guard.1 = true;
    };
    ([("content-type", "text/event-stream"), ("x-request-id", "up-stream-1")], Body::from_stream(stream))
        .into_response()
}

fn openai_chunks(words: &[&str], usage: bool) -> Vec<String> {
    let mut events: Vec<String> = words
        .iter()
        .map(|word| {
            let chunk = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up",
                "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": null}]});
            format!("data: {chunk}\n\n")
        })
        .collect();
    let finish = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    events.push(format!("data: {finish}\n\n"));
    if usage {
        let usage = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up", "choices": [],
            "usage": {"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25}});
        events.push(format!("data: {usage}\n\n"));
    }
    events.push("data: [DONE]\n\n".into());
    events
}

async fn openai(
    State(log): State<Arc<Log>>,
    Path(behaviour): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    log.received.lock().unwrap().push(Received {
        behaviour: behaviour.clone(),
        headers: headers.clone(),
        body: body.clone(),
    });
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let authorized =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {UPSTREAM_SECRET}"));
    if !authorized {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"message": "bad upstream key", "type": "invalid_request_error", "code": "invalid_api_key"}}))).into_response();
    }
    match behaviour.as_str() {
        "ok" => ([("x-request-id", "up-req-42")], Json(completion("from upstream", &model))).into_response(),
        "ok-slow" => {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            Json(completion("from upstream, slowly", &model)).into_response()
        }
        "fail" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "unavailable" => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": {"message": "overloaded"}}))).into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Json(completion("too late", &model)).into_response()
        }
        "reject" => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "This model's maximum context length is 10 tokens.", "type": "invalid_request_error", "code": "context_length_exceeded"}})),
        )
            .into_response(),
        "stream" => sse(openai_chunks(&["one ", "two ", "three ", "four"], true), Duration::from_millis(5), log),
        "stream-no-usage" => sse(openai_chunks(&["alpha ", "beta ", "gamma"], false), Duration::from_millis(5), log),
        "stream-slow" => {
            let words: Vec<String> = (0..200).map(|i| format!("w{i} ")).collect();
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            sse(openai_chunks(&words, true), Duration::from_millis(20), log)
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn anthropic(
    State(log): State<Arc<Log>>,
    Path(behaviour): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    log.received.lock().unwrap().push(Received {
        behaviour: behaviour.clone(),
        headers: headers.clone(),
        body: body.clone(),
    });
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(UPSTREAM_SECRET) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"type": "error", "error": {"type": "authentication_error", "message": "bad key"}})),
        )
            .into_response();
    }
    let model = body["model"].as_str().unwrap_or_default();
    if body["stream"].as_bool() == Some(true) {
        let events = [
            (
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_up", "type": "message", "role": "assistant", "model": model, "content": [], "usage": {"input_tokens": 13, "output_tokens": 1}}}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "bonjour "}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "monde"}}),
            ),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
            (
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ];
        let events = events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect();
        return sse(events, Duration::from_millis(5), log);
    }
    let reply = json!({"id": "msg_up", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "bonjour monde"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 13, "output_tokens": 5}});
    ([("request-id", "up-anthropic-7")], Json(reply)).into_response()
}
