//! `POST /api/v1/channels/{id}/test`: one small chat request through one channel, with
//! the gateway's upstream code, reported with its status, latency and upstream request
//! id (or why it failed). It is not billed, writes no usage row, and is audited.

use super::mock_upstream::UPSTREAM_SECRET;
use super::World;
use crate::helpers::{browser, error_of, Backend};
use crate::on_both_backends;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

async fn run_test(w: &World, client: &Client, channel: &str) -> reqwest::Response {
    client.post(w.app.url(&format!("/api/v1/channels/{channel}/test"))).send().await.unwrap()
}

/// The outcome of an admin's test of `channel`.
async fn outcome(w: &World, channel: &str) -> Value {
    let response = run_test(w, &w.admin, channel).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// A single number from the test's database, e.g. a `COUNT(*)`.
async fn count(w: &World, sql: &str, binds: &[&str]) -> i64 {
    use sqlx::Connection;
    let url = &w.app.database.url;
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let query = binds.iter().fold(sqlx::query_scalar(sql), |query, bind| query.bind(*bind));
        query.fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let query = binds.iter().fold(sqlx::query_scalar(sql), |query, bind| query.bind(*bind));
        query.fetch_one(&mut conn).await.unwrap()
    }
}

async fn a_channel_test_reports_status_latency_and_upstream_request_id(backend: Backend) {
    let w = World::new(backend).await;
    let openai = w.channel("probed", "openai", "ok", 0, 2000).await;
    w.model("probed-model", &[(&openai, Some("gpt-upstream"))]).await;
    let balance_before = w.balance().await;

    let test = outcome(&w, &openai).await;
    assert_eq!(test["ok"], true, "{test}");
    assert_eq!(test["status"], 200, "{test}");
    assert_eq!(test["upstream_request_id"], "up-req-42", "{test}");
    assert_eq!(test["error"], Value::Null, "{test}");
    assert!(test["latency_ms"].as_i64().is_some_and(|ms| (0..2000).contains(&ms)), "{test}");
    assert_eq!((test["channel_name"].as_str(), test["model"].as_str()), (Some("probed"), Some("probed-model")));
    assert_eq!(test["upstream_model"], "gpt-upstream");

    // One small request, in the channel's protocol, under the upstream's name, with its credential.
    let received = w.upstream.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body["model"], "gpt-upstream");
    assert_eq!(received[0].body["messages"][0]["role"], "user");
    // `max_completion_tokens`: OpenAI's reasoning models refuse `max_tokens`.
    let cap = received[0].body["max_completion_tokens"].as_i64();
    assert!(cap.is_some_and(|max| max <= 16), "{}", received[0].body);
    let authorization = received[0].headers["authorization"].to_str().unwrap();
    assert_eq!(authorization, format!("Bearer {UPSTREAM_SECRET}"));

    let anthropic = w.channel("probed-claude", "anthropic", "anthropic", 0, 2000).await;
    w.model("claude-model", &[(&anthropic, None)]).await;
    let test = outcome(&w, &anthropic).await;
    assert_eq!((test["ok"].as_bool(), test["status"].as_i64()), (Some(true), Some(200)), "{test}");
    assert_eq!(test["upstream_request_id"], "up-anthropic-7");
    assert_eq!(w.upstream.received()[1].headers["x-api-key"], UPSTREAM_SECRET);

    let demo = w.admin.get(w.app.url("/api/v1/channels")).send().await.unwrap().json::<Vec<Value>>().await.unwrap();
    let echo = demo.iter().find(|channel| channel["protocol"] == "echo").unwrap()["id"].as_str().unwrap().to_owned();
    let test = outcome(&w, &echo).await;
    assert_eq!((test["ok"].as_bool(), test["model"].as_str()), (Some(true), Some("echo-1")), "{test}");

    // Not billed, no usage row (given the writer time to flush one), audited once per test.
    assert_eq!(w.balance().await, balance_before);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(count(&w, "SELECT COUNT(*) FROM usage_logs", &[]).await, 0);
    let audited = "SELECT COUNT(*) FROM audit_log WHERE action = 'channel.test' AND target_id = $1";
    assert_eq!(count(&w, audited, &[&openai]).await, 1);
    assert_eq!(count(&w, audited, &[&echo]).await, 1);
}

async fn a_failing_channel_test_reports_the_upstream_error(backend: Backend) {
    let w = World::new(backend).await;
    let failing = w.channel("failing", "openai", "fail", 0, 2000).await;
    let picky = w.channel("picky", "openai", "reject", 0, 2000).await;
    let slow = w.channel("slow", "openai", "slow", 0, 300).await;
    w.model("tested", &[(&failing, None), (&picky, None), (&slow, None)]).await;

    let test = outcome(&w, &failing).await;
    assert_eq!((test["ok"].as_bool(), test["status"].as_i64()), (Some(false), Some(500)), "{test}");
    assert!(test["error"].as_str().is_some_and(|e| e.contains("500")), "{test}");

    let test = outcome(&w, &picky).await;
    assert_eq!((test["ok"].as_bool(), test["status"].as_i64()), (Some(false), Some(400)), "{test}");
    assert_eq!(test["error"], "This model's maximum context length is 10 tokens.");

    let test = outcome(&w, &slow).await;
    assert_eq!((test["ok"].as_bool(), test["status"].as_i64()), (Some(false), None), "{test}");
    assert!(test["error"].as_str().is_some_and(|e| e.contains("within 300 ms")), "{test}");

    // Nothing listens on the discard port of loopback.
    let body = json!({"name": "nowhere", "protocol": "openai", "base_url": "http://127.0.0.1:9/v1",
        "models": ["tested"], "timeout_ms": 2000});
    let created: Value =
        w.admin.post(w.app.url("/api/v1/channels")).json(&body).send().await.unwrap().json().await.unwrap();
    let test = outcome(&w, created["id"].as_str().unwrap()).await;
    assert_eq!((test["ok"].as_bool(), test["status"].as_i64()), (Some(false), None), "{test}");
    assert!(test["error"].as_str().is_some_and(|e| e.contains("could not be reached")), "{test}");

    // A base URL HTTP cannot carry (a space in the host) fails every call, saying why.
    let body = json!({"name": "garbled", "protocol": "openai", "base_url": "http://exa mple.com/v1",
        "credential": "sk-fine", "models": ["tested"], "timeout_ms": 2000});
    let created: Value =
        w.admin.post(w.app.url("/api/v1/channels")).json(&body).send().await.unwrap().json().await.unwrap();
    let test = outcome(&w, created["id"].as_str().unwrap()).await;
    assert_eq!((test["ok"].as_bool(), test["status"].as_i64()), (Some(false), None), "{test}");
    assert!(test["error"].as_str().is_some_and(|e| e.contains("base URL or credential")), "{test}");

    let body = json!({"name": "idle", "protocol": "echo"});
    let idle: Value =
        w.admin.post(w.app.url("/api/v1/channels")).json(&body).send().await.unwrap().json().await.unwrap();
    let refused = run_test(&w, &w.admin, idle["id"].as_str().unwrap()).await;
    let error = error_of(refused, StatusCode::CONFLICT, "conflict").await;
    assert!(error["message"].as_str().unwrap().contains("serves no model"), "{error}");
}

async fn only_admins_test_channels(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w.channel("guarded", "openai", "ok", 0, 2000).await;
    w.model("guarded-model", &[(&channel, None)]).await;
    let (_, user) = w.app.user(&w.admin, "user@test.local", "user").await;
    let (_, support) = w.app.user(&w.admin, "support@test.local", "support").await;

    error_of(run_test(&w, &user, &channel).await, StatusCode::FORBIDDEN, "forbidden").await;
    error_of(run_test(&w, &support, &channel).await, StatusCode::FORBIDDEN, "forbidden").await;
    error_of(run_test(&w, &browser(), &channel).await, StatusCode::UNAUTHORIZED, "not_signed_in").await;
    error_of(run_test(&w, &w.admin, "no-such-channel").await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(w.upstream.received().len(), 0, "refused tests send nothing upstream");
}

/// Test works for each protocol: the request goes to that protocol's endpoint, in its shape.
async fn a_channel_test_speaks_each_protocol(backend: Backend) {
    let w = World::new(backend).await;
    // (protocol, mock behaviour, a field only that protocol's request has)
    let cases = [("openai-responses", "ok", "input"), ("anthropic", "ok", "max_tokens"), ("gemini", "ok", "contents")];
    for (protocol, behaviour, field) in cases {
        let channel = w.channel(protocol, protocol, behaviour, 0, 2000).await;
        w.model(&format!("probe-{protocol}"), &[(&channel, None)]).await;
        let test = outcome(&w, &channel).await;
        assert_eq!((test["ok"].as_bool(), test["status"].as_i64()), (Some(true), Some(200)), "{protocol}: {test}");
        let sent = w.upstream.received().into_iter().last().unwrap();
        assert!(sent.body.get(field).is_some(), "{protocol}: {}", sent.body);
    }
}

on_both_backends!(
    a_channel_test_speaks_each_protocol,
    a_channel_test_reports_status_latency_and_upstream_request_id,
    a_failing_channel_test_reports_the_upstream_error,
    only_admins_test_channels,
);
