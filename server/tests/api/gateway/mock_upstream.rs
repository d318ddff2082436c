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
            .route("/{behaviour}/embeddings", post(embeddings))
            .route("/{behaviour}/responses", post(responses))
            .route("/{behaviour}/v1/messages", post(anthropic))
            .route("/{behaviour}/v1/messages/count_tokens", post(anthropic_count))
            .route("/{behaviour}/v1beta/models/{action}", post(gemini))
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

/// Records a call; `credential` is the header the protocol carries its key in.
fn record(log: &Log, behaviour: &str, headers: &HeaderMap, body: &Value) {
    log.received.lock().unwrap().push(Received {
        behaviour: behaviour.to_owned(),
        headers: headers.clone(),
        body: body.clone(),
    });
}

fn authorized(headers: &HeaderMap, name: &str, expected: &str) -> bool {
    headers.get(name).and_then(|v| v.to_str().ok()) == Some(expected)
}

/// The cached-usage answers: 1,000 input tokens of which 800 were read from the cache.
fn cached_completion(model: &str) -> Value {
    json!({
        "id": "chatcmpl-cached", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "cached answer"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050,
                  "prompt_tokens_details": {"cached_tokens": 800},
                  "completion_tokens_details": {"reasoning_tokens": 10}}
    })
}

async fn embeddings(
    State(log): State<Arc<Log>>,
    Path(behaviour): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    record(&log, &behaviour, &headers, &body);
    Json(json!({"object": "list", "model": body["model"],
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.5]}],
        "usage": {"prompt_tokens": 6, "total_tokens": 6}}))
    .into_response()
}

/// The Responses API: a whole answer or its typed event stream, with cached usage.
async fn responses(
    State(log): State<Arc<Log>>,
    Path(behaviour): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    record(&log, &behaviour, &headers, &body);
    if !authorized(&headers, "authorization", &format!("Bearer {UPSTREAM_SECRET}")) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": "bad upstream key", "type": "invalid_request_error"}})),
        )
            .into_response();
    }
    let usage = json!({"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 800},
        "output_tokens": 50, "output_tokens_details": {"reasoning_tokens": 10}, "total_tokens": 1050});
    let item = json!({"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": "responses answer", "annotations": []}]});
    let response = json!({"id": "resp_up", "object": "response", "created_at": 1, "status": "completed",
        "model": body["model"], "output": [item], "usage": usage});
    if body["stream"].as_bool() != Some(true) {
        return Json(response).into_response();
    }
    let events = [
        json!({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_up", "status": "in_progress", "output": []}}),
        json!({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
               "item": {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
        json!({"type": "response.output_text.delta", "sequence_number": 2, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "responses "}),
        json!({"type": "response.output_text.delta", "sequence_number": 3, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "answer"}),
        json!({"type": "response.output_item.done", "sequence_number": 4, "output_index": 0, "item": item}),
        json!({"type": "response.completed", "sequence_number": 5, "response": response}),
    ];
    let events =
        events.iter().map(|event| format!("event: {}\ndata: {event}\n\n", event["type"].as_str().unwrap())).collect();
    sse(events, Duration::from_millis(5), log)
}

async fn anthropic_count(
    State(log): State<Arc<Log>>,
    Path(behaviour): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    record(&log, &behaviour, &headers, &body);
    Json(json!({"input_tokens": 1234})).into_response()
}

/// Gemini: `{model}:generateContent` or `:streamGenerateContent?alt=sse`, with cached usage.
async fn gemini(
    State(log): State<Arc<Log>>,
    Path((behaviour, action)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    record(&log, &behaviour, &headers, &body);
    if !authorized(&headers, "x-goog-api-key", UPSTREAM_SECRET) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": 401, "message": "API key not valid.", "status": "UNAUTHENTICATED"}})),
        )
            .into_response();
    }
    let chunk = |text: &str, last: bool| {
        let mut chunk = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}],
            "modelVersion": "gemini-up", "responseId": "gem-up"});
        if last {
            chunk["candidates"][0]["finishReason"] = "STOP".into();
            chunk["usageMetadata"] = json!({"promptTokenCount": 1000, "cachedContentTokenCount": 800,
                "candidatesTokenCount": 40, "thoughtsTokenCount": 10, "totalTokenCount": 1050});
        }
        chunk
    };
    if action.ends_with(":streamGenerateContent") {
        let events = vec![
            format!("data: {}\r\n\r\n", chunk("gemini ", false)),
            format!("data: {}\r\n\r\n", chunk("answer", true)),
        ];
        return sse(events, Duration::from_millis(5), log);
    }
    Json(chunk("gemini answer", true)).into_response()
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
    record(&log, &behaviour, &headers, &body);
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let authorized =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {UPSTREAM_SECRET}"));
    if !authorized {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"message": "bad upstream key", "type": "invalid_request_error", "code": "invalid_api_key"}}))).into_response();
    }
    match behaviour.as_str() {
        "ok" => ([("x-request-id", "up-req-42")], Json(completion("from upstream", &model))).into_response(),
        "cached" => Json(cached_completion(&model)).into_response(),
        // Reports far more output than any cap allowed.
        "greedy" => {
            let mut answer = completion("a long answer", &model);
            answer["usage"] = json!({"prompt_tokens": 11, "completion_tokens": 1_000_000, "total_tokens": 1_000_011});
            Json(answer).into_response()
        }
        // Providers quote the key they were sent in their 401.
        "quotes-key" => {
            let sent = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let message = format!("Incorrect API key provided: {sent}. Also tried sk-other-0123456789abcdef.");
            let error = json!({"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}});
            (StatusCode::UNAUTHORIZED, Json(error)).into_response()
        }
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
    record(&log, &behaviour, &headers, &body);
    if !authorized(&headers, "x-api-key", UPSTREAM_SECRET) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"type": "error", "error": {"type": "authentication_error", "message": "bad key"}})),
        )
            .into_response();
    }
    let model = body["model"].as_str().unwrap_or_default();
    match behaviour.as_str() {
        "cached" => {
            return Json(json!({"id": "msg_cached", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": "cached answer"}], "stop_reason": "end_turn",
                "usage": {"input_tokens": 200, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200,
                          "output_tokens": 50}}))
            .into_response()
        }
        "ratelimited" => {
            let headers =
                [("retry-after", "7"), ("x-should-retry", "true"), ("anthropic-ratelimit-requests-remaining", "0")];
            let error = json!({"type": "error", "error": {"type": "rate_limit_error",
                "message": "Number of request tokens has exceeded your per-minute rate limit"}});
            return (StatusCode::TOO_MANY_REQUESTS, headers, Json(error)).into_response();
        }
        _ => {}
    }
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
        let mut events: Vec<String> =
            events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect();
        // Anthropic pings mid-stream; a pass-through must relay them.
        events.insert(2, "event: ping\ndata: {\"type\": \"ping\"}\n\n".into());
        return sse(events, Duration::from_millis(5), log);
    }
    let reply = json!({"id": "msg_up", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "bonjour monde"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 13, "output_tokens": 5}});
    ([("request-id", "up-anthropic-7"), ("anthropic-ratelimit-requests-remaining", "99")], Json(reply)).into_response()
}
