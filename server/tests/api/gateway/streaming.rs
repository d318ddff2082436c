//! Streams: relayed chunk by chunk, usage from the upstream or counted, and a client
//! that hangs up mid-stream.

use super::{request_id, World};
use crate::helpers::Backend;
use crate::on_both_backends;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn stream_body(model: &str) -> Value {
    json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "count for me"}]})
}

/// The `data:` payloads of an SSE body.
fn data_lines(text: &str) -> Vec<String> {
    text.lines().filter_map(|line| line.strip_prefix("data: ")).map(str::to_owned).collect()
}

fn content_of(chunks: &[String]) -> String {
    chunks
        .iter()
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter_map(|chunk| chunk.pointer("/choices/0/delta/content").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

async fn streams_with_the_upstreams_usage(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w.channel("streamer", "openai", "stream", 0, 2000).await;
    w.model("streamy", &[(&channel, None)]).await;
    let key = w.key(json!({})).await;

    let response = w.chat(&key, stream_body("streamy")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let id = request_id(&response);
    let chunks = data_lines(&response.text().await.unwrap());
    assert_eq!(content_of(&chunks), "one two three four");
    assert_eq!(chunks.last().map(String::as_str), Some("[DONE]"));
    assert!(
        !chunks.iter().any(|c| c.contains("\"choices\":[]")),
        "the usage chunk the client did not ask for is not sent"
    );
    assert_eq!(
        w.upstream.received()[0].body["stream_options"]["include_usage"],
        true,
        "usage is asked of the upstream"
    );

    let row = w.usage_row(&id).await;
    assert_eq!((row["prompt_tokens"].as_i64(), row["completion_tokens"].as_i64()), (Some(21), Some(4)));
    assert_eq!(row["stream"], true);
    assert_eq!(row["status"], 200);

    let mut asked = stream_body("streamy");
    asked["stream_options"] = json!({"include_usage": true, "future_option": 1});
    asked["user"] = json!("end-user-7");
    let chunks = data_lines(&w.chat(&key, asked).await.text().await.unwrap());
    assert!(chunks.iter().any(|c| c.contains("\"completion_tokens\":4")), "the client asked for usage and gets it");
    let forwarded = &w.upstream.received()[1].body;
    assert_eq!(
        forwarded["stream_options"],
        json!({"include_usage": true, "future_option": 1}),
        "the client's options kept"
    );
    assert_eq!(forwarded["user"], "end-user-7", "fields Tollgate does not read are forwarded as sent");
}

async fn counts_tokens_when_the_upstream_reports_none(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w.channel("quiet", "openai", "stream-no-usage", 0, 2000).await;
    w.model("quiet-model", &[(&channel, None)]).await;
    let key = w.key(json!({})).await;
    let response = w.chat(&key, stream_body("quiet-model")).await;
    let id = request_id(&response);
    assert_eq!(content_of(&data_lines(&response.text().await.unwrap())), "alpha beta gamma");
    let row = w.usage_row(&id).await;
    assert!(row["completion_tokens"].as_i64().unwrap() >= 3, "{row}");
    assert!(row["prompt_tokens"].as_i64().unwrap() >= 3, "{row}");
}

async fn a_client_hanging_up_ends_the_upstream_call_and_records_what_was_delivered(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w.channel("long", "openai", "stream-slow", 0, 10_000).await;
    w.model("long-model", &[(&channel, None)]).await;
    let key = w.key(json!({})).await;
    let response = w.chat(&key, stream_body("long-model")).await;
    let id = request_id(&response);
    let mut body = response.bytes_stream();
    let mut received = String::new();
    while data_lines(&received).len() < 5 {
        received.push_str(&String::from_utf8_lossy(&body.next().await.unwrap().unwrap()));
    }
    drop(body);

    let row = w.usage_row(&id).await;
    assert_eq!(row["error_code"], "client_closed");
    assert_eq!(row["status"], 499);
    let delivered = row["completion_tokens"].as_i64().unwrap();
    assert!((5..200).contains(&delivered), "tokens delivered so far: {delivered}");
    let deadline = Instant::now() + Duration::from_secs(3);
    while w.upstream.log.streams_cancelled.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the upstream call was not ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn translates_streams_between_protocols(backend: Backend) {
    let w = World::new(backend).await;
    let claude = w.channel("claude", "anthropic", "anthropic", 0, 2000).await;
    let gpt = w.channel("gpt", "openai", "stream", 0, 2000).await;
    w.model("claude-s", &[(&claude, None)]).await;
    w.model("gpt-s", &[(&gpt, None)]).await;
    let key = w.key(json!({})).await;

    let response = w.chat(&key, stream_body("claude-s")).await;
    let id = request_id(&response);
    let chunks = data_lines(&response.text().await.unwrap());
    assert_eq!(content_of(&chunks), "bonjour monde");
    assert!(chunks.iter().any(|c| c.contains("\"prompt_tokens\":13") && c.contains("\"completion_tokens\":5")));
    let row = w.usage_row(&id).await;
    assert_eq!((row["prompt_tokens"].as_i64(), row["completion_tokens"].as_i64()), (Some(13), Some(5)));

    let response = w.messages(&key, stream_body("gpt-s")).await;
    let text = response.text().await.unwrap();
    let events: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(events.first(), Some(&"message_start"));
    assert_eq!(events.last(), Some(&"message_stop"));
    let deltas: String = data_lines(&text)
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|e| e.pointer("/delta/text").and_then(Value::as_str).map(str::to_owned))
        .collect();
    assert_eq!(deltas, "one two three four");
}

async fn echo_streams_one_word_per_chunk(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({})).await;
    let response = w
        .chat(&key, json!({"model": "echo-1", "stream": true, "messages": [{"role": "user", "content": "a b c"}]}))
        .await;
    let chunks = data_lines(&response.text().await.unwrap());
    assert_eq!(chunks.len(), 5, "three words, the finish with usage, [DONE]");
    assert_eq!(content_of(&chunks), "a b c");
}

on_both_backends!(
    streams_with_the_upstreams_usage,
    counts_tokens_when_the_upstream_reports_none,
    a_client_hanging_up_ends_the_upstream_call_and_records_what_was_delivered,
    translates_streams_between_protocols,
    echo_streams_one_word_per_chunk,
);
