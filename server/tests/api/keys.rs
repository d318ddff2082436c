//! Keys through the management API: members manage their own, owners all of the
//! account's, strangers see nothing; the catalog is read by all and written by admins.

use crate::gateway::World;
use crate::helpers::{error_of, Backend};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn members_manage_their_own_keys_and_owners_all(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    let (owner_id, owner) = app.user(&w.admin, "owner@test.local", "user").await;
    let (member_id, member) = app.user(&w.admin, "member@test.local", "user").await;
    let (_, stranger) = app.user(&w.admin, "stranger@test.local", "user").await;
    let account = app.account(&w.admin, "Shared", &owner_id).await;
    let added = w
        .admin
        .post(app.url(&format!("/api/v1/accounts/{account}/members")))
        .json(&json!({"user_id": member_id, "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    let create = |client: &reqwest::Client, name: &str| {
        client.post(app.url(&format!("/api/v1/accounts/{account}/keys"))).json(&json!({"name": name})).send()
    };
    let owners: Value = create(&owner, "owner's").await.unwrap().json().await.unwrap();
    let members: Value = create(&member, "member's").await.unwrap().json().await.unwrap();
    assert!(owners["secret"].as_str().unwrap().starts_with(owners["prefix"].as_str().unwrap()));
    assert_eq!(members["key"]["user_id"], member_id.as_str());

    let names = |keys: Value| -> Vec<String> {
        let mut names: Vec<String> =
            keys.as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap().to_owned()).collect();
        names.sort();
        names
    };
    let list = |client: &reqwest::Client| client.get(app.url(&format!("/api/v1/accounts/{account}/keys"))).send();
    assert_eq!(names(list(&owner).await.unwrap().json().await.unwrap()), ["member's", "owner's"]);
    assert_eq!(names(list(&member).await.unwrap().json().await.unwrap()), ["member's"]);
    let listed = list(&owner).await.unwrap().text().await.unwrap();
    assert!(!listed.contains(owners["secret"].as_str().unwrap().rsplit('-').next().unwrap()), "secrets are shown once");

    let owners_key = owners["id"].as_str().unwrap();
    let members_key = members["id"].as_str().unwrap();
    for (client, id) in [(&member, owners_key), (&stranger, members_key), (&stranger, owners_key)] {
        let url = app.url(&format!("/api/v1/keys/{id}"));
        error_of(client.get(&url).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
        let patch = client.patch(&url).json(&json!({"status": "disabled"})).send().await.unwrap();
        error_of(patch, StatusCode::NOT_FOUND, "not_found").await;
        let revoke = client.post(app.url(&format!("/api/v1/keys/{id}/revoke"))).send().await.unwrap();
        error_of(revoke, StatusCode::NOT_FOUND, "not_found").await;
    }
    error_of(list(&stranger).await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;

    let changed = owner
        .patch(app.url(&format!("/api/v1/keys/{members_key}")))
        .json(&json!({"status": "disabled", "rpm": 60, "ip_allowlist": ["2001:db8::/32"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK, "owners manage every key of their account");
    let changed: Value = changed.json().await.unwrap();
    assert_eq!((changed["status"].as_str(), changed["rpm"].as_i64()), (Some("disabled"), Some(60)));
    let cleared =
        owner.patch(app.url(&format!("/api/v1/keys/{members_key}"))).json(&json!({"rpm": null})).send().await.unwrap();
    assert!(cleared.json::<Value>().await.unwrap()["rpm"].is_null(), "null clears a limit");
}

async fn keys_record_their_last_use(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({})).await;
    let id = w.key_id(&key).await;
    let read = || async {
        w.admin.get(w.app.url(&format!("/api/v1/keys/{id}"))).send().await.unwrap().json::<Value>().await.unwrap()
    };
    // Waiting for the gateway to know the key already used it once; wait for that write.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let before = read().await["last_used_at"].as_i64().unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(w.chat(&key, super::gateway::hello("echo-1")).await.status(), StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while read().await["last_used_at"].as_i64().unwrap_or(0) <= before {
        assert!(std::time::Instant::now() < deadline, "last_used_at never set");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn the_catalog_is_read_by_all_and_written_by_admins(backend: Backend) {
    let w = World::new(backend).await;
    let (_, user) = w.app.user(&w.admin, "reader@test.local", "user").await;
    let models: Vec<Value> = user.get(w.app.url("/api/v1/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(models[0]["code"], "echo-1");
    let new_model = json!({"code": "mine", "name": "mine", "input_price": 1, "output_price": 1, "context_window": 10});
    let writes = [
        user.post(w.app.url("/api/v1/models")).json(&new_model),
        user.patch(w.app.url("/api/v1/models/echo-1")).json(&json!({"status": "disabled"})),
        user.get(w.app.url("/api/v1/channels")),
        user.post(w.app.url("/api/v1/channels")).json(&json!({"name": "x", "protocol": "echo"})),
    ];
    for write in writes {
        error_of(write.send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    }
    let bad_url = w
        .admin
        .post(w.app.url("/api/v1/channels"))
        .json(&json!({"name": "x", "protocol": "openai", "base_url": "ftp://x"}));
    assert_eq!(
        error_of(bad_url.send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_value").await["param"],
        "base_url"
    );
    let unknown_model =
        w.admin.post(w.app.url("/api/v1/channels")).json(&json!({"name": "y", "protocol": "echo", "models": ["nope"]}));
    assert_eq!(
        error_of(unknown_model.send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_value").await["param"],
        "models"
    );
}

on_both_backends!(
    members_manage_their_own_keys_and_owners_all,
    keys_record_their_last_use,
    the_catalog_is_read_by_all_and_written_by_admins,
);
