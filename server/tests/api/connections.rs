//! Connections the server closes (issue 16, item 6): a request head sent too slowly, a
//! keep-alive connection left idle, and connections beyond the bound; answers in flight,
//! streams included, are never cut by those timeouts nor by a graceful shutdown.
//! Only upper bounds of time are asserted, and generous ones.

use crate::gateway::World;
use crate::helpers::{spawn_app_with, Backend, TestApp};
use futures_util::StreamExt;
use serde_json::json;
use server::config::Config;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the server may take to close a connection it should close.
const BOUND: Duration = Duration::from_secs(5);

async fn app(configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(Backend::Sqlite, configure).await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://")).await.expect("connects")
}

/// Sends `GET /healthz` and reads its whole response; `None` when the server closed the
/// connection instead of answering.
async fn health(stream: &mut TcpStream) -> Option<String> {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n").await.ok()?;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                .and_then(|length| length.trim().parse::<usize>().ok())
                .expect("a content length");
            if body.len() >= length {
                return Some(text);
            }
        }
        match tokio::time::timeout(BOUND, stream.read(&mut buffer)).await.expect("an answer or a close") {
            Ok(0) | Err(_) => return None,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Reads until the server closes the connection, within [`BOUND`]; returns what it sent.
async fn closed_by_server(stream: &mut TcpStream) -> String {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = BOUND.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => panic!("the server kept the connection open for {BOUND:?}"),
            Ok(Ok(0) | Err(_)) => return String::from_utf8_lossy(&received).into_owned(),
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

#[tokio::test]
async fn a_request_head_sent_line_by_line_is_closed_after_the_header_timeout() {
    let app = app(|config| {
        config.header_read_timeout_ms = 1000;
        config.idle_timeout_ms = 60_000;
    })
    .await;
    let (mut reader, mut writer) = connect(&app).await.into_split();
    // A header line every 200 ms: never silent for long, but never done.
    let trickle = tokio::spawn(async move {
        writer.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n").await?;
        for line in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            writer.write_all(format!("x-slow-{line}: still coming\r\n").as_bytes()).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(BOUND, reader.read(&mut buffer)).await;
    let read = read.unwrap_or_else(|_| panic!("a slow request head kept its connection for {BOUND:?}"));
    assert!(matches!(read, Ok(0) | Err(_)), "a request head that never ends is never answered");
    assert!(started.elapsed() < BOUND);
    trickle.abort();

    // A connection that sends nothing at all is closed too.
    let mut silent = connect(&app).await;
    closed_by_server(&mut silent).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = app(|config| {
        config.header_read_timeout_ms = 60_000;
        config.idle_timeout_ms = 1000;
    })
    .await;
    let mut stream = connect(&app).await;
    assert!(health(&mut stream).await.is_some_and(|answer| answer.starts_with("HTTP/1.1 200")));
    // Within the idle timeout the connection is kept for the next request.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(health(&mut stream).await.is_some(), "a connection used again in time is kept");
    let leftover = closed_by_server(&mut stream).await;
    assert!(leftover.is_empty(), "nothing more was sent before closing: {leftover:?}");
}

#[tokio::test]
async fn at_the_connection_bound_a_further_connection_is_closed_and_the_open_ones_stay() {
    let app = app(|config| config.max_connections = NonZeroU32::new(2).unwrap()).await;
    let mut first = connect(&app).await;
    let mut second = connect(&app).await;
    assert!(health(&mut first).await.is_some());
    assert!(health(&mut second).await.is_some());

    let mut third = connect(&app).await;
    assert_eq!(health(&mut third).await, None, "the third connection is not served");
    assert!(health(&mut first).await.is_some(), "the open connections stay");
    assert!(health(&mut second).await.is_some());

    // Once one closes, its place is free again.
    drop(first);
    let deadline = Instant::now() + BOUND;
    loop {
        let mut next = connect(&app).await;
        if health(&mut next).await.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "a closed connection's place never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn slow_stream(model: &str) -> serde_json::Value {
    json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "take your time"}]})
}

/// The stream takes about four seconds (200 chunks, 20 ms apart): far longer than either
/// timeout, which only apply while no request is in flight.
#[tokio::test]
async fn answers_in_flight_outlast_both_timeouts() {
    let w = World::with_config(Backend::Sqlite, |config| {
        config.header_read_timeout_ms = 1000;
        config.idle_timeout_ms = 1000;
    })
    .await;
    let channel = w.channel("long", "openai", "stream-slow", 0, 10_000).await;
    w.model("long-model", &[(&channel, None)]).await;
    let key = w.key(json!({})).await;
    assert_eq!(w.chat(&key, crate::gateway::hello("echo-1")).await.status(), 200);
    let response = w.chat(&key, slow_stream("long-model")).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("the whole stream arrives");
    assert!(body.contains("w199") && body.trim_end().ends_with("data: [DONE]"), "{body}");
}

#[tokio::test]
async fn a_graceful_shutdown_finishes_a_stream_in_flight_and_accepts_no_more() {
    let mut w = World::new(Backend::Sqlite).await;
    let channel = w.channel("long", "openai", "stream-slow", 0, 10_000).await;
    w.model("long-model", &[(&channel, None)]).await;
    let key = w.key(json!({})).await;
    let response = w.chat(&key, slow_stream("long-model")).await;
    assert_eq!(response.status(), 200);
    let mut chunks = response.bytes_stream();
    let mut received = String::from_utf8_lossy(&chunks.next().await.unwrap().unwrap()).into_owned();

    w.app.stop();
    let deadline = Instant::now() + BOUND;
    while reqwest::Client::new().get(w.app.url("/healthz")).send().await.is_ok() {
        assert!(Instant::now() < deadline, "the server still accepts connections after its shutdown began");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while let Some(chunk) = chunks.next().await {
        received.push_str(&String::from_utf8_lossy(&chunk.expect("the stream is not cut")));
    }
    assert!(received.contains("w199") && received.trim_end().ends_with("data: [DONE]"), "{received}");
}
