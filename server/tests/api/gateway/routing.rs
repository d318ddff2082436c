//! Relay, failover, translation between protocols, and credentials that never leak.

use super::mock_upstream::UPSTREAM_SECRET;
use super::{gateway_error, hello, request_id, World};
use crate::helpers::Backend;
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn relays_to_an_openai_upstream_under_its_own_model_name(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w.channel("primary", "openai", "ok", 0, 2000).await;
    w.model("house-model", &[(&channel, Some("gpt-upstream-name"))]).await;
    let key = w.key(json!({})).await;
    let response = w.chat(&key, hello("house-model")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = request_id(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], "chatcmpl-upstream-1", "same protocol: the upstream's answer passes through");
    assert_eq!(body["choices"][0]["message"]["content"], "from upstream");

    let received = w.upstream.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body["model"], "gpt-upstream-name");
    assert_eq!(received[0].body["messages"][0]["content"], "hello gateway world");
    assert!(
        !received[0].headers.get("authorization").unwrap().to_str().unwrap().contains(&key),
        "the client's key stays with us"
    );

    let row = w.usage_row(&id).await;
    assert_eq!(row["channel_id"], channel.as_str());
    assert_eq!(row["upstream_request_id"], "up-req-42");
    assert_eq!((row["prompt_tokens"].as_i64(), row["completion_tokens"].as_i64()), (Some(11), Some(7)));
    assert_eq!(row["attempts"].as_array().unwrap().len(), 1);
}

async fn fails_over_from_a_failing_to_a_working_channel(backend: Backend) {
    let w = World::new(backend).await;
    let broken = w.channel("broken", "openai", "fail", 10, 2000).await;
    let working = w.channel("working", "openai", "ok", 1, 2000).await;
    w.model("resilient", &[(&broken, None), (&working, None)]).await;
    let key = w.key(json!({})).await;
    let response = w.chat(&key, hello("resilient")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let row = w.usage_row(&request_id(&response)).await;
    let attempts = row["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        (attempts[0]["channel_id"].as_str(), attempts[0]["status"].as_i64()),
        (Some(broken.as_str()), Some(500))
    );
    assert_eq!(
        (attempts[1]["channel_id"].as_str(), attempts[1]["status"].as_i64()),
        (Some(working.as_str()), Some(200))
    );
    assert_eq!(row["channel_id"], working.as_str());

    let metrics = w.client.get(w.app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(&format!("tollgate_upstream_failovers_total{{channel=\"{broken}\"}}")), "{metrics}");
}

async fn upstream_4xx_is_passed_through_without_failover(backend: Backend) {
    let w = World::new(backend).await;
    let picky = w.channel("picky", "openai", "reject", 10, 2000).await;
    let fallback = w.channel("fallback", "openai", "ok", 1, 2000).await;
    w.model("strict", &[(&picky, None), (&fallback, None)]).await;
    let key = w.key(json!({})).await;
    gateway_error(w.chat(&key, hello("strict")).await, 400, "context_length_exceeded", "upstream").await;
    assert_eq!(w.upstream.calls("ok"), 0, "a client error is not retried elsewhere");
}

async fn translates_between_openai_and_anthropic(backend: Backend) {
    let w = World::new(backend).await;
    let claude = w.channel("claude", "anthropic", "anthropic", 0, 2000).await;
    let gpt = w.channel("gpt", "openai", "ok", 0, 2000).await;
    w.model("claude-house", &[(&claude, Some("claude-up"))]).await;
    w.model("gpt-house", &[(&gpt, None)]).await;
    let key = w.key(json!({})).await;

    let body = json!({"model": "claude-house", "max_tokens": 50, "stop": "END",
        "messages": [{"role": "system", "content": "be terse"}, {"role": "user", "content": "say hi"}]});
    let answer: Value = w.chat(&key, body).await.json().await.unwrap();
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["message"]["content"], "bonjour monde");
    assert_eq!(answer["usage"]["prompt_tokens"], 13);
    assert_eq!(answer["usage"]["completion_tokens"], 5);
    let sent = &w.upstream.received()[0];
    assert_eq!(sent.body["system"], json!([{"type": "text", "text": "be terse"}]));
    assert_eq!(sent.body["max_tokens"], 50);
    assert_eq!(sent.body["stop_sequences"], json!(["END"]));
    assert_eq!(sent.headers["anthropic-version"], "2023-06-01");

    let answer: Value = w
        .messages(
            &key,
            json!({"model": "gpt-house", "system": "be kind", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["type"], "message");
    assert_eq!(answer["content"][0]["text"], "from upstream");
    assert_eq!(answer["usage"]["input_tokens"], 11);
    let sent = &w.upstream.received()[1];
    assert_eq!(sent.body["messages"][0], json!({"role": "system", "content": "be kind"}));

    // Several choices per request exist in OpenAI's dialect only.
    let choices = json!({"model": "claude-house", "n": 2, "messages": [{"role": "user", "content": "x"}]});
    let error = gateway_error(w.chat(&key, choices).await, 400, "untranslatable_feature", "request").await;
    assert_eq!(error["param"], "n");
}

async fn upstream_credentials_never_leave_the_gateway(backend: Backend) {
    let w = World::new(backend).await;
    let good = w.channel("good", "openai", "ok", 0, 2000).await;
    let bad = w.channel("bad", "openai", "fail", 5, 2000).await;
    w.model("guarded", &[(&bad, None), (&good, None)]).await;
    let key = w.key(json!({})).await;
    let mut seen = String::new();
    for body in
        [hello("guarded"), json!({"model": "guarded", "stream": true, "messages": [{"role": "user", "content": "x"}]})]
    {
        let response = w.chat(&key, body).await;
        let id = request_id(&response);
        seen.push_str(&format!("{:?}", response.headers()));
        seen.push_str(&response.text().await.unwrap());
        seen.push_str(&w.usage_row(&id).await.to_string());
    }
    seen.push_str(&w.admin.get(w.app.url("/api/v1/channels")).send().await.unwrap().text().await.unwrap());
    seen.push_str(&w.admin.get(w.app.url("/api/v1/models")).send().await.unwrap().text().await.unwrap());
    assert!(!seen.contains(UPSTREAM_SECRET), "the upstream credential leaked");
    let channels: Vec<Value> = w.admin.get(w.app.url("/api/v1/channels")).send().await.unwrap().json().await.unwrap();
    assert!(channels.iter().filter(|c| c["name"] != "demo-echo").all(|c| c["has_credential"] == true));

    let stored: Vec<(Option<String>,)> = sqlx_query(&w, "SELECT credential FROM channels").await;
    assert!(stored.iter().all(|(c,)| c.as_deref().is_none_or(|c| !c.contains(UPSTREAM_SECRET))), "encrypted at rest");
}

async fn sqlx_query(w: &World, sql: &str) -> Vec<(Option<String>,)> {
    use sqlx::Connection;
    let url = &w.app.database.url;
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
    }
}

on_both_backends!(
    relays_to_an_openai_upstream_under_its_own_model_name,
    fails_over_from_a_failing_to_a_working_channel,
    upstream_4xx_is_passed_through_without_failover,
    translates_between_openai_and_anthropic,
    upstream_credentials_never_leave_the_gateway,
);
