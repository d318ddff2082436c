//! A mock OpenAI upstream on loopback that counts the requests it is serving at once.
//! The behaviour is the first path segment of a channel's base URL:
//! `hold-<ms>` streams one word, holds the stream open for `<ms>`, then finishes;
//! `slow` answers a whole completion (11 prompt, 7 completion tokens) after a second.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
pub struct Counts {
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    started: AtomicUsize,
}

/// One request being served; the count goes down when its answer ends or is dropped.
struct Serving(Arc<Counts>);

impl Serving {
    fn begin(counts: &Arc<Counts>) -> Serving {
        counts.started.fetch_add(1, Ordering::SeqCst);
        let now = counts.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counts.most_in_flight.fetch_max(now, Ordering::SeqCst);
        Serving(counts.clone())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct Mock {
    base: String,
    counts: Arc<Counts>,
}

impl Mock {
    pub async fn start() -> Mock {
        let counts = Arc::new(Counts::default());
        let app = Router::new().route("/{behaviour}/chat/completions", post(chat)).with_state(counts.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Mock { base, counts }
    }

    pub fn url(&self, behaviour: &str) -> String {
        format!("{}/{behaviour}", self.base)
    }

    /// The most requests served at once so far.
    pub fn most_in_flight(&self) -> usize {
        self.counts.most_in_flight.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> usize {
        self.counts.in_flight.load(Ordering::SeqCst)
    }

    pub fn started(&self) -> usize {
        self.counts.started.load(Ordering::SeqCst)
    }
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let chunk = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {chunk}\n\n")
}

async fn chat(State(counts): State<Arc<Counts>>, Path(behaviour): Path<String>, Json(body): Json<Value>) -> Response {
    let serving = Serving::begin(&counts);
    if behaviour == "slow" {
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(serving);
        return Json(json!({"id": "chatcmpl-slow", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "slowly"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}))
        .into_response();
    }
    let Some(hold) = behaviour.strip_prefix("hold-").and_then(|ms| ms.parse().ok()).map(Duration::from_millis) else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    let stream = async_stream::stream! {
        let _serving = serving;
        yield Ok::<_, std::io::Error>(chunk(json!({"role": "assistant", "content": "held "}), None));
        tokio::time::sleep(hold).await;
        yield Ok(chunk(json!({"content": "open"}), None));
        yield Ok(chunk(json!({}), Some("stop")));
        let usage = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up", "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}});
        yield Ok(format!("data: {usage}\n\n"));
        yield Ok("data: [DONE]\n\n".to_owned());
    };
    ([("content-type", "text/event-stream")], Body::from_stream(stream)).into_response()
}
