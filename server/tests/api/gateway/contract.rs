//! One test per row of the contract's status table (billing rows live with billing).

use super::{gateway_error, hello, request_id, World};
use crate::helpers::Backend;
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn rows_1_2_unknown_route_and_method(backend: Backend) {
    let w = World::new(backend).await;
    let unknown = w.client.get(w.app.url("/v1/nothing")).send().await.unwrap();
    gateway_error(unknown, 404, "unknown_route", "request").await;
    let wrong_method = w.client.get(w.app.url("/v1/chat/completions")).send().await.unwrap();
    let error = gateway_error(wrong_method, 405, "method_not_allowed", "request").await;
    assert_eq!(error["type"], "invalid_request_error");
}

async fn row_3_missing_key(backend: Backend) {
    let w = World::new(backend).await;
    let none = w.client.post(w.app.url("/v1/chat/completions")).json(&hello("echo-1")).send().await.unwrap();
    let id = request_id(&none);
    let error = gateway_error(none, 401, "missing_api_key", "identity").await;
    assert_eq!(error["type"], "authentication_error");
    let basic = w
        .client
        .post(w.app.url("/v1/chat/completions"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .json(&hello("echo-1"));
    gateway_error(basic.send().await.unwrap(), 401, "missing_api_key", "identity").await;

    let row = w.usage_row(&id).await;
    assert_eq!(
        (row["status"].as_i64(), row["error_code"].as_str(), row["error_layer"].as_str()),
        (Some(401), Some("missing_api_key"), Some("identity"))
    );
    assert!(row["key_id"].is_null());
}

async fn row_4_invalid_key(backend: Backend) {
    let w = World::new(backend).await;
    let real = w.key(json!({})).await;
    let (prefix, _) = real.rsplit_once('-').unwrap();
    let wrong_secret = format!("{prefix}-{}", "x".repeat(40));
    for key in [
        "garbage",
        "tg-unknownxxxxx-short",
        "tg-aaaaaaaaaaaa-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        wrong_secret.as_str(),
    ] {
        let error = gateway_error(w.chat(key, hello("echo-1")).await, 401, "invalid_api_key", "identity").await;
        assert!(!error["message"].as_str().unwrap().contains(key), "never echo a key");
    }
}

async fn rows_5_6_disabled_and_revoked_keys(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({})).await;
    let id = w.key_id(&key).await;
    let url = w.app.url(&format!("/api/v1/keys/{id}"));
    assert_eq!(w.admin.patch(&url).json(&json!({"status": "disabled"})).send().await.unwrap().status(), StatusCode::OK);
    let refused = w.chat(&key, hello("echo-1")).await;
    let refused_id = request_id(&refused);
    let error = gateway_error(refused, 401, "api_key_disabled", "identity").await;
    let row = w.usage_row(&refused_id).await;
    assert_eq!(row["key_id"], id.as_str(), "the refused request is logged under its key");
    assert_eq!(row["account_id"], w.account.as_str());
    assert!(error["message"].as_str().unwrap().contains(key.rsplit_once('-').unwrap().0), "names the public prefix");
    assert!(!error["message"].as_str().unwrap().contains(key.rsplit_once('-').unwrap().1), "never the secret");

    assert_eq!(w.admin.patch(&url).json(&json!({"status": "enabled"})).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(w.chat(&key, hello("echo-1")).await.status(), StatusCode::OK, "re-enabled at once");

    let revoked = w.admin.post(w.app.url(&format!("/api/v1/keys/{id}/revoke"))).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    gateway_error(w.chat(&key, hello("echo-1")).await, 401, "api_key_revoked", "identity").await;
    let reenable = w.admin.patch(&url).json(&json!({"status": "enabled"})).send().await.unwrap();
    assert_eq!(reenable.status(), StatusCode::CONFLICT, "revoked is final");
}

async fn row_7_suspended_account(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({})).await;
    let suspend =
        w.admin.patch(w.app.url(&format!("/api/v1/accounts/{}", w.account))).json(&json!({"status": "suspended"}));
    assert_eq!(suspend.send().await.unwrap().status(), StatusCode::OK);
    gateway_error(w.chat(&key, hello("echo-1")).await, 401, "account_disabled", "identity").await;
}

async fn row_8_expired_key(backend: Backend) {
    let w = World::new(backend).await;
    let expires_at = app::clock::now_ms() + 1500;
    let key = w.key(json!({"expires_at": expires_at})).await;
    assert_eq!(w.chat(&key, hello("echo-1")).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let error = gateway_error(w.chat(&key, hello("echo-1")).await, 403, "api_key_expired", "identity").await;
    assert_eq!(error["type"], "permission_error");
}

async fn row_9_ip_outside_allowlist(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({"ip_allowlist": ["10.0.0.0/8"]})).await;
    let error = gateway_error(w.chat(&key, hello("echo-1")).await, 403, "ip_not_allowed", "permission").await;
    assert!(error["message"].as_str().unwrap().contains("127.0.0.1"));
}

async fn row_10_body_too_large(backend: Backend) {
    let w = World::with_config(backend, |config| config.max_request_bytes = 2048).await;
    let key = w.key(json!({})).await;
    let big = json!({"model": "echo-1", "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    gateway_error(w.chat(&key, big).await, 413, "request_too_large", "request").await;
}

async fn rows_11_to_14_bad_bodies(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({})).await;
    let post = |body: &'static str, content_type: &'static str| {
        w.client
            .post(w.app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .header("content-type", content_type)
            .body(body)
    };
    gateway_error(post("{}", "text/plain").send().await.unwrap(), 415, "unsupported_media_type", "request").await;
    gateway_error(post("{\"model\":", "application/json").send().await.unwrap(), 400, "invalid_json", "request").await;
    let missing = gateway_error(
        post(r#"{"messages":[]}"#, "application/json").send().await.unwrap(),
        400,
        "missing_field",
        "request",
    )
    .await;
    assert_eq!(missing["param"], "model");
    let missing = gateway_error(
        post(r#"{"model":"echo-1"}"#, "application/json").send().await.unwrap(),
        400,
        "missing_field",
        "request",
    )
    .await;
    assert_eq!(missing["param"], "messages");
    let mistyped = post(r#"{"model":"echo-1","messages":"hi"}"#, "application/json").send().await.unwrap();
    let mistyped = gateway_error(mistyped, 400, "invalid_type", "request").await;
    assert_eq!(mistyped["param"], "messages");
    let stream = post(r#"{"model":"echo-1","messages":[],"stream":"yes"}"#, "application/json").send().await.unwrap();
    assert_eq!(gateway_error(stream, 400, "invalid_type", "request").await["param"], "stream");
}

async fn rows_15_to_17_model_checks(backend: Backend) {
    let w = World::new(backend).await;
    let other = w.channel("other-echo", "echo", "unused", 0, 1000).await;
    w.model("other-model", &[(&other, None)]).await;
    let key = w.key(json!({"model_whitelist": ["echo-1"]})).await;

    gateway_error(w.chat(&key, hello("no-such-model")).await, 404, "model_not_found", "request").await;
    let error = gateway_error(w.chat(&key, hello("other-model")).await, 403, "model_not_allowed", "permission").await;
    assert_eq!(error["type"], "permission_error");

    let listed: Value = w.models(&key).await.json().await.unwrap();
    let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["echo-1"], "/v1/models lists only what the key may call");

    let disable = w.admin.patch(w.app.url("/api/v1/models/echo-1")).json(&json!({"status": "disabled"}));
    assert_eq!(disable.send().await.unwrap().status(), StatusCode::OK);
    gateway_error(w.chat(&key, hello("echo-1")).await, 403, "model_disabled", "permission").await;
    let listed: Value = w.models(&key).await.json().await.unwrap();
    assert!(listed["data"].as_array().unwrap().is_empty(), "disabled models are not listed");
}

async fn row_20_requests_and_tokens_per_minute(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({"rpm": 2})).await;
    for _ in 0..2 {
        assert_eq!(w.chat(&key, hello("echo-1")).await.status(), StatusCode::OK);
    }
    let limited = w.chat(&key, hello("echo-1")).await;
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    gateway_error(limited, 429, "rate_limit_exceeded", "rate_limit").await;

    // Tokens are held from the request's upper bound and settled with the real count:
    // a first request using most of the minute's tokens leaves too few for a second.
    let key = w.key(json!({"tpm": 1000})).await;
    let big =
        json!({"model": "echo-1", "max_tokens": 400, "messages": [{"role": "user", "content": "word ".repeat(300)}]});
    assert_eq!(w.chat(&key, big.clone()).await.status(), StatusCode::OK);
    let limited = w.chat(&key, big).await;
    assert!(limited.headers().contains_key("retry-after"));
    gateway_error(limited, 429, "rate_limit_exceeded", "rate_limit").await;
}

async fn row_21_concurrency(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w.channel("slow-stream", "openai", "stream-slow", 0, 10_000).await;
    w.model("streamer", &[(&channel, None)]).await;
    let key = w.key(json!({"max_concurrency": 1})).await;
    let held = w
        .chat(&key, json!({"model": "streamer", "stream": true, "messages": [{"role": "user", "content": "go"}]}))
        .await;
    assert_eq!(held.status(), StatusCode::OK);
    let second = w.chat(&key, hello("echo-1")).await;
    assert!(second.headers().contains_key("retry-after"));
    gateway_error(second, 429, "concurrency_limit_exceeded", "rate_limit").await;
    drop(held);
    w.eventually(|| async { w.chat(&key, hello("echo-1")).await.status() == StatusCode::OK }).await;
}

async fn row_22_no_available_channel(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w.channel("off", "openai", "ok", 0, 1000).await;
    w.model("orphan", &[(&channel, None)]).await;
    let off = w.admin.patch(w.app.url(&format!("/api/v1/channels/{channel}"))).json(&json!({"enabled": false}));
    assert_eq!(off.send().await.unwrap().status(), StatusCode::OK);
    let key = w.key(json!({})).await;
    let error = gateway_error(w.chat(&key, hello("orphan")).await, 503, "no_available_channel", "routing").await;
    assert_eq!(error["type"], "upstream_error");
}

async fn rows_23_to_25_upstream_failures(backend: Backend) {
    let w = World::new(backend).await;
    let fail_a = w.channel("fail-a", "openai", "fail", 10, 2000).await;
    let fail_b = w.channel("fail-b", "openai", "unavailable", 5, 2000).await;
    w.model("broken", &[(&fail_a, None), (&fail_b, None)]).await;
    let slow = w.channel("slow", "openai", "slow", 0, 300).await;
    w.model("sluggish", &[(&slow, None)]).await;
    let reject = w.channel("reject", "openai", "reject", 0, 2000).await;
    w.model("picky", &[(&reject, None)]).await;
    let key = w.key(json!({})).await;

    let failed = w.chat(&key, hello("broken")).await;
    let id = request_id(&failed);
    gateway_error(failed, 502, "upstream_failed", "upstream").await;
    let row = w.usage_row(&id).await;
    let statuses: Vec<i64> =
        row["attempts"].as_array().unwrap().iter().map(|a| a["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [500, 503], "both channels tried, highest priority first");

    gateway_error(w.chat(&key, hello("sluggish")).await, 504, "upstream_timeout", "upstream").await;

    let refused = w.chat(&key, hello("picky")).await;
    let error = gateway_error(refused, 400, "context_length_exceeded", "upstream").await;
    assert_eq!(error["type"], "invalid_request_error");
    assert!(error["message"].as_str().unwrap().contains("maximum context length"));
}

async fn every_response_has_our_request_id_and_keeps_the_clients(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({})).await;
    let response = w
        .client
        .post(w.app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("x-request-id", "client-abc")
        .json(&hello("echo-1"))
        .send()
        .await
        .unwrap();
    let id = request_id(&response);
    assert_ne!(id, "client-abc");
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    let row = w.usage_row(&id).await;
    assert_eq!(row["client_request_id"], "client-abc");
    assert_eq!(row["status"], 200);
    assert_eq!(row["model"], "echo-1");
    assert_eq!((row["prompt_tokens"].as_i64(), row["completion_tokens"].as_i64()), (Some(3), Some(3)));
    assert_eq!(row["client_ip"], "127.0.0.1");
}

async fn anthropic_routes_use_anthropics_error_shape(backend: Backend) {
    let w = World::new(backend).await;
    let response = w.client.post(w.app.url("/v1/messages")).json(&hello("echo-1")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");
    assert_eq!(body["error"]["code"], "missing_api_key");
    assert_eq!(body["error"]["layer"], "identity");
    let key = w.key(json!({})).await;
    let answer: Value = w
        .messages(
            &key,
            json!({"model": "echo-1", "max_tokens": 10, "messages": [{"role": "user", "content": "salut toi"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["type"], "message");
    assert_eq!(answer["content"][0]["text"], "salut toi");
    assert_eq!(answer["usage"]["output_tokens"], 2);
    let bearer =
        w.client.post(w.app.url("/v1/messages")).bearer_auth(&key).json(&hello("echo-1")).send().await.unwrap();
    assert_eq!(bearer.status(), StatusCode::OK, "a Bearer key works on /v1/messages too");
}

on_both_backends!(
    rows_1_2_unknown_route_and_method,
    row_3_missing_key,
    row_4_invalid_key,
    rows_5_6_disabled_and_revoked_keys,
    row_7_suspended_account,
    row_8_expired_key,
    row_9_ip_outside_allowlist,
    row_10_body_too_large,
    rows_11_to_14_bad_bodies,
    rows_15_to_17_model_checks,
    row_20_requests_and_tokens_per_minute,
    row_21_concurrency,
    row_22_no_available_channel,
    rows_23_to_25_upstream_failures,
    every_response_has_our_request_id_and_keeps_the_clients,
    anthropic_routes_use_anthropics_error_shape,
);
