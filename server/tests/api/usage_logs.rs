//! Usage logs through the management API: filters, keyset pages, tenant scoping.

use crate::gateway::{hello, request_id, World};
use crate::helpers::{error_of, Backend};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn usage_lists_filter_and_page_within_the_account(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({})).await;
    let other_key = w.key(json!({})).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(request_id(&w.chat(&key, hello("echo-1")).await));
    }
    ids.push(request_id(&w.chat(&key, hello("missing-model")).await));
    ids.push(request_id(&w.chat(&other_key, hello("echo-1")).await));
    for id in &ids {
        w.usage_row(id).await;
    }
    let world = &w;
    let list = |query: &str| {
        let url = world.app.url(&format!("/api/v1/accounts/{}/usage?{query}", world.account));
        async move {
            let response = world.admin.get(url).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    // Only this test's chat requests (waiting for a key's activation also logs rows).
    let rows = |page: &Value| -> Vec<String> {
        let all = page["rows"].as_array().unwrap().iter().map(|r| r["request_id"].as_str().unwrap().to_owned());
        all.filter(|id| ids.contains(id)).collect()
    };

    let mut newest_first: Vec<String> = ids.clone();
    newest_first.reverse();
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = list(&format!("limit=3&cursor={cursor}")).await;
        paged.extend(rows(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(paged, newest_first, "keyset pages, newest first, nothing skipped or repeated");

    let key_id = w.key_id(&key).await;
    assert_eq!(rows(&list(&format!("key={key_id}")).await).len(), 6);
    assert_eq!(rows(&list("status=4xx").await), [ids[5].clone()]);
    assert_eq!(rows(&list("status=404").await), [ids[5].clone()]);
    assert_eq!(rows(&list("error_code=model_not_found").await), [ids[5].clone()]);
    assert_eq!(rows(&list(&format!("model=echo-1&key={key_id}")).await).len(), 5);
    let bad =
        w.admin.get(w.app.url(&format!("/api/v1/accounts/{}/usage?status=teapot", w.account))).send().await.unwrap();
    assert_eq!(error_of(bad, StatusCode::BAD_REQUEST, "invalid_value").await["param"], "status");
}

async fn strangers_see_no_usage_but_support_sees_all(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({})).await;
    let id = request_id(&w.chat(&key, hello("echo-1")).await);
    w.usage_row(&id).await;
    let (_, stranger) = w.app.user(&w.admin, "stranger@test.local", "user").await;
    let (_, support) = w.app.user(&w.admin, "support@test.local", "support").await;
    error_of(
        stranger.get(w.app.url(&format!("/api/v1/usage/{id}"))).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let list = stranger.get(w.app.url(&format!("/api/v1/accounts/{}/usage", w.account))).send().await.unwrap();
    error_of(list, StatusCode::NOT_FOUND, "not_found").await;
    let seen = support.get(w.app.url(&format!("/api/v1/usage/{id}"))).send().await.unwrap();
    assert_eq!(seen.status(), StatusCode::OK, "support looks up any request id");
    assert_eq!(seen.json::<Value>().await.unwrap()["account_id"], w.account.as_str());
}

/// Support reads a request of a tenant it does not belong to with names beside the ids;
/// a member of the account sees the names of their own keys only; no secret anywhere.
async fn usage_detail_names_the_account_key_and_channel(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({})).await;
    let key_id = w.key_id(&key).await;
    let answered = w.chat(&key, hello("echo-1")).await;
    let id = request_id(&answered);
    let row = w.usage_row(&id).await;
    let (_, support) = w.app.user(&w.admin, "support@test.local", "support").await;
    let (member_id, member) = w.app.user(&w.admin, "member@test.local", "user").await;
    let add = w.app.url(&format!("/api/v1/accounts/{}/members", w.account));
    let added = w.admin.post(add).json(&json!({"user_id": member_id, "role": "member"})).send().await.unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);

    let seen = support.get(w.app.url(&format!("/api/v1/usage/{id}"))).send().await.unwrap();
    assert_eq!(seen.status(), StatusCode::OK);
    let text = seen.text().await.unwrap();
    let (prefix, secret) = key.rsplit_once('-').unwrap();
    assert!(!text.contains(secret), "never the key's secret: {text}");
    let seen: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(seen["account_id"], w.account.as_str(), "ids stay");
    assert_eq!(seen["key_id"], key_id.as_str());
    assert_eq!(seen["account_name"], "Demo");
    assert_eq!(seen["key_name"], "test key");
    assert_eq!(seen["key_prefix"], prefix);
    assert_eq!(seen["key_owner_email"], crate::helpers::ADMIN_EMAIL, "staff see who owns the key");
    let channel = row["channel_id"].as_str().expect("an answered request names its channel");
    assert_eq!(seen["channel_name"], "demo-echo");
    assert_eq!(seen["channel_names"][channel], "demo-echo");

    let as_member: Value =
        member.get(w.app.url(&format!("/api/v1/usage/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(as_member["account_name"], "Demo");
    assert_eq!(as_member["key_name"], Value::Null, "another member's key stays unnamed, as on the keys page");
    assert_eq!(as_member["key_owner_email"], Value::Null, "emails are for staff");
    assert_eq!(as_member["channel_name"], "demo-echo");
}

on_both_backends!(
    usage_lists_filter_and_page_within_the_account,
    strangers_see_no_usage_but_support_sees_all,
    usage_detail_names_the_account_key_and_channel,
);
