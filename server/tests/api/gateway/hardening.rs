//! Findings of the security review (issue 16) that the data plane answers: an upstream's
//! quote of the platform's credential never reaches a tenant, what strangers send cannot
//! grow the metrics or the usage log without bound, and a change made on an instance is in
//! force for every request it starts afterwards.

use super::mock_upstream::UPSTREAM_SECRET;
use super::{gateway_error, hello, request_id, World};
use crate::helpers::{Backend, ServerProcess, TestDatabase, ADMIN_PASSWORD};
use crate::on_both_backends;
use reqwest::Client;
use serde_json::{json, Value};

async fn an_upstream_quoting_the_credential_is_redacted(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w.channel("quoting", "openai", "quotes-key", 0, 2000).await;
    w.model("quoted", &[(&channel, None)]).await;
    let key = w.key(json!({})).await;
    let body = json!({"model": "quoted", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    for response in [w.chat(&key, body.clone()).await, w.messages(&key, body.clone()).await] {
        let id = request_id(&response);
        assert_eq!(response.status(), 401);
        let text = response.text().await.unwrap();
        assert!(text.contains("Incorrect API key provided"), "the upstream's words stay: {text}");
        assert!(!text.contains(UPSTREAM_SECRET) && !text.contains("sk-other"), "{text}");
        let row = w.usage_row(&id).await;
        assert!(!row.to_string().contains(UPSTREAM_SECRET) && !row.to_string().contains("sk-other"), "{row}");
    }
}

/// One server process of its own, so no other test's series count in its `/metrics`.
#[tokio::test]
async fn strangers_cannot_grow_the_metrics_or_the_usage_log() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let server =
        ServerProcess::start(&database, &[("TOLLGATE_ADMIN_PASSWORD", ADMIN_PASSWORD), ("TOLLGATE_SEED_DEMO", "true")]);
    let (admin, account) = server.admin().await;
    let created: Value = admin
        .post(format!("{}/api/v1/accounts/{account}/keys", server.base))
        .json(&json!({"name": "fuzz"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["secret"].as_str().unwrap().to_owned();
    let client = Client::new();
    let metrics_size =
        || async { client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap() };
    // Warm the series every refusal below uses, then measure.
    let long = "x".repeat(20_000);
    client.post(format!("{}/v1/{long}", server.base)).send().await.unwrap();
    let before = metrics_size().await.len();
    let mut last_id = String::new();
    for round in 0..500 {
        let path = format!("{}/v1/{round}{long}", server.base);
        client.post(path).send().await.unwrap();
        let model = format!("{round}{long}");
        let refused = client
            .post(format!("{}/v1/chat/completions", server.base))
            .bearer_auth(&key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        last_id = refused.headers()["x-request-id"].to_str().unwrap().to_owned();
    }
    let after = metrics_size().await;
    assert!(after.len() < before + 4_096, "metrics grew from {before} to {} bytes", after.len());
    assert!(!after.contains(&long[..100]));
    let row: Value = loop {
        let response = admin.get(format!("{}/api/v1/usage/{last_id}", server.base)).send().await.unwrap();
        if response.status() == 200 {
            break response.json().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(row["error_code"], "model_not_found");
    assert!(row["model"].as_str().unwrap().len() <= 128, "{}", row["model"].as_str().unwrap().len());
    assert!(row["error_message"].as_str().unwrap().len() <= 1024);
}

/// No waiting, no retries: the answer to the change is the moment it holds.
async fn a_change_holds_for_the_very_next_request(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({})).await;
    let first_requests = (0..64).map(|_| w.chat(&key, hello("echo-1")));
    let statuses: Vec<u16> =
        futures_util::future::join_all(first_requests).await.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().all(|status| *status == 200), "64 concurrent first requests on a new key: {statuses:?}");

    let id = w.key_id(&key).await;
    let revoked = w.admin.post(w.app.url(&format!("/api/v1/keys/{id}/revoke"))).send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    for _ in 0..10 {
        gateway_error(w.chat(&key, hello("echo-1")).await, 401, "api_key_revoked", "identity").await;
    }

    let other = w.key(json!({})).await;
    let disabled = w.admin.patch(w.app.url("/api/v1/models/echo-1")).json(&json!({"status": "disabled"}));
    assert_eq!(disabled.send().await.unwrap().status(), 200);
    gateway_error(w.chat(&other, hello("echo-1")).await, 403, "model_disabled", "permission").await;
}

on_both_backends!(an_upstream_quoting_the_credential_is_redacted, a_change_holds_for_the_very_next_request);
