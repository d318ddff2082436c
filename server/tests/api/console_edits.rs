//! The server functions of the key edit form, the channels page and the models page's
//! channel form, called directly over HTTP: a caller from another tenant gets 404, a
//! caller without the role 403, a stranger 401.

use crate::helpers::{browser, spawn_app, Backend, TestApp};
use crate::on_both_backends;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// Every field of the edit form, as the browser sends it (empty fields clear their limit).
fn edit_form<'a>(id: &'a str, name: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("id", id),
        ("name", name),
        ("expires_at", ""),
        ("ip_allowlist", ""),
        ("rpm", ""),
        ("tpm", ""),
        ("max_concurrency", ""),
        ("spend_cap", ""),
    ];
    for (field, value) in extra {
        form.retain(|(existing, _)| existing != field);
        form.push((field, value));
    }
    form
}

async fn key_policy_edits_check_owner_and_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (owner_id, owner) = app.user(&admin, "owner@test.local", "user").await;
    let (member_id, member) = app.user(&admin, "member@test.local", "user").await;
    let (_, support) = app.user(&admin, "support@test.local", "support").await;
    let (stranger_id, stranger) = app.user(&admin, "stranger@test.local", "user").await;
    let own = app.account(&admin, "Own", &owner_id).await;
    app.account(&admin, "Foreign", &stranger_id).await;
    let added = admin
        .post(app.url(&format!("/api/v1/accounts/{own}/members")))
        .json(&json!({"user_id": member_id, "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);

    // The owner's key, with an expiry that has seconds (the form shows minutes).
    let expires_at = 4_102_444_799_500_i64; // 2099-12-31T23:59:59.5
    let created: Value = owner
        .post(app.url(&format!("/api/v1/accounts/{own}/keys")))
        .json(&json!({"name": "ci", "expires_at": expires_at, "rpm": 60, "spend_cap": 5_000_000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key_id = created["id"].as_str().unwrap().to_owned();

    // The owner sets every field through the form; the expiry, sent back as shown, is kept.
    let form = edit_form(
        &key_id,
        "ci renamed",
        &[
            ("expires_at", "2099-12-31T23:59"),
            ("ip_allowlist", "127.0.0.1\r\n10.0.0.0/8\r\n"),
            ("model_whitelist[]", "echo-1"),
            ("tpm", "1000"),
            ("max_concurrency", "3"),
            ("spend_cap", "7.5"),
        ],
    );
    let (status, body) = app.rpc(&owner, "update_key", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "ci renamed");
    assert_eq!(body["expires_at"], expires_at, "an expiry left as shown keeps its seconds");
    assert_eq!(body["ip_allowlist"], json!(["127.0.0.1", "10.0.0.0/8"]));
    assert_eq!(body["model_whitelist"], json!(["echo-1"]));
    assert_eq!((body["rpm"].clone(), body["tpm"].clone()), (Value::Null, json!(1000)), "an empty field clears");
    assert_eq!((body["max_concurrency"].clone(), body["spend_cap"].clone()), (json!(3), json!(7_500_000)));
    let stored: Value =
        owner.get(app.url(&format!("/api/v1/keys/{key_id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(stored, body, "the form saved through the same service the API reads");

    // Clearing everything: no expiry, any address, all models, no limits.
    let (status, body) = app.rpc(&owner, "update_key", &edit_form(&key_id, "ci", &[])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for field in ["expires_at", "rpm", "tpm", "max_concurrency", "spend_cap"] {
        assert_eq!(body[field], Value::Null, "{field} cleared: {body}");
    }
    assert_eq!((body["ip_allowlist"].clone(), body["model_whitelist"].clone()), (json!([]), json!([])));

    // Every bad allowlist entry is named; nothing is saved.
    let form = edit_form(&key_id, "ci", &[("ip_allowlist", "10.0.0.1\nnope\n::1\n300.1.1.1")]);
    let (status, body) = app.rpc(&owner, "update_key", &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body.to_string();
    assert!(message.contains("ip_allowlist[1]") && message.contains("Entry 2: `nope`"), "{body}");
    assert!(message.contains("Entry 4: `300.1.1.1`"), "{body}");
    let (status, _) = app.rpc(&owner, "update_key", &edit_form(&key_id, "ci", &[("rpm", "lots")])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Another tenant's member, and a member of the same account who does not own the key: 404.
    let (status, _) = app.rpc(&stranger, "update_key", &edit_form(&key_id, "taken", &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.rpc(&member, "update_key", &edit_form(&key_id, "taken", &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.rpc(&support, "update_key", &edit_form(&key_id, "taken", &[])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "support reads keys but does not change them");
    let (status, _) = app.rpc(&browser(), "update_key", &edit_form(&key_id, "taken", &[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let stored: Value =
        owner.get(app.url(&format!("/api/v1/keys/{key_id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(stored["name"], "ci", "refused edits changed nothing");

    // A member edits their own key.
    let (status, body) =
        app.rpc(&member, "create_key", &[("account_id", &own), ("name", "mine"), ("ip_allowlist", "")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let own_key = body["id"].as_str().unwrap().to_owned();
    let (status, body) = app.rpc(&member, "update_key", &edit_form(&own_key, "mine", &[("rpm", "5")])).await;
    assert_eq!((status, body["rpm"].clone()), (StatusCode::OK, json!(5)), "{body}");
}

/// The demo echo channel's id, from the management API.
async fn echo_channel(app: &TestApp, admin: &Client) -> String {
    let channels: Vec<Value> = admin.get(app.url("/api/v1/channels")).send().await.unwrap().json().await.unwrap();
    channels.iter().find(|channel| channel["protocol"] == "echo").unwrap()["id"].as_str().unwrap().to_owned()
}

async fn channel_functions_are_for_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (owner_id, owner) = app.user(&admin, "owner@test.local", "user").await;
    let (_, support) = app.user(&admin, "support@test.local", "support").await;
    app.account(&admin, "Own", &owner_id).await;
    let echo = echo_channel(&app, &admin).await;
    let new_channel = [
        ("name", "sneaky"),
        ("protocol", "openai"),
        ("base_url", "https://example.test/v1"),
        ("credential", "sk-x"),
        ("priority", "0"),
        ("weight", "1"),
        ("timeout_ms", "1000"),
        ("enabled", "yes"),
    ];
    let change = [
        ("id", echo.as_str()),
        ("name", "taken"),
        ("protocol", "echo"),
        ("base_url", ""),
        ("credential", ""),
        ("priority", "0"),
        ("weight", "1"),
        ("timeout_ms", "1000"),
    ];
    let refused: [(&str, &[(&str, &str)]); 6] = [
        ("list_channels", &[]),
        ("create_channel", &new_channel),
        ("update_channel", &change),
        ("set_channel_enabled", &[("id", &echo), ("enabled", "false")]),
        ("test_channel", &[("id", &echo)]),
        ("update_model_channels", &[("code", "echo-1")]),
    ];
    for (name, form) in refused {
        for (who, client) in [("a user", &owner), ("support", &support)] {
            let (status, body) = app.rpc(client, name, form).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{name} by {who}: {body}");
        }
        let (status, _) = app.rpc(&browser(), name, form).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name} by a stranger");
    }
    let (status, body) = app.rpc(&admin, "list_channels", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["channels"].as_array().unwrap().len(), 1, "nothing was created or changed: {body}");
    assert_eq!(body["channels"][0]["enabled"], true);
    let (status, _) = app.rpc(&owner, "take_channel_test", &[]).await;
    assert_eq!(status, StatusCode::OK, "a flash is only ever the caller's own");
}

async fn admins_manage_channels_through_the_console(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let echo = echo_channel(&app, &admin).await;

    let (status, created) = app
        .rpc(
            &admin,
            "create_channel",
            &[
                ("name", "provider"),
                ("protocol", "openai"),
                ("base_url", "https://example.test/v1/"),
                ("credential", "sk-kept-secret"),
                ("models[]", "echo-1"),
                ("priority", "5"),
                ("weight", "2"),
                ("timeout_ms", "1500"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["enabled"], false, "an unticked box is off");
    assert_eq!(
        (created["has_credential"].as_bool(), created["base_url"].as_str()),
        (Some(true), Some("https://example.test/v1"))
    );
    let id = created["id"].as_str().unwrap().to_owned();

    let (status, body) = app
        .rpc(
            &admin,
            "create_channel",
            &[
                ("name", "bad"),
                ("protocol", "openai"),
                ("base_url", "https://x.test"),
                ("priority", "high"),
                ("weight", "1"),
                ("timeout_ms", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The model's channel form names the upstream model; editing the channel keeps it.
    let (status, model) = app
        .rpc(
            &admin,
            "update_model_channels",
            &[
                ("code", "echo-1"),
                ("channel_ids[]", &echo),
                ("upstream_models[]", ""),
                ("channel_ids[]", &id),
                ("upstream_models[]", " gpt-4o-mini "),
                ("channel_ids[]", "unticked"),
                ("upstream_models[]", "ignored"),
                ("serve[]", &echo),
                ("serve[]", &id),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{model}");
    assert_eq!(
        model["channels"],
        json!([{"channel_id": echo, "upstream_model": null}, {"channel_id": id, "upstream_model": "gpt-4o-mini"}])
    );

    // A blank credential keeps the stored one; the protocol and the rest change.
    let (status, changed) = app
        .rpc(
            &admin,
            "update_channel",
            &[
                ("id", &id),
                ("name", "provider renamed"),
                ("protocol", "anthropic"),
                ("base_url", "https://anthropic.test"),
                ("credential", ""),
                ("models[]", "echo-1"),
                ("priority", "1"),
                ("weight", "3"),
                ("timeout_ms", "2000"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!((changed["name"].as_str(), changed["protocol"].as_str()), (Some("provider renamed"), Some("anthropic")));
    assert_eq!((changed["priority"].as_i64(), changed["weight"].as_i64()), (Some(1), Some(3)));
    assert_eq!(changed["has_credential"], true);
    let models: Vec<Value> = admin.get(app.url("/api/v1/models")).send().await.unwrap().json().await.unwrap();
    let echo_model = models.iter().find(|m| m["code"] == "echo-1").unwrap();
    assert_eq!(echo_model["channels"][1]["upstream_model"], "gpt-4o-mini", "kept through the channel's edit");

    let (status, body) = app.rpc(&admin, "set_channel_enabled", &[("id", &id), ("enabled", "true")]).await;
    assert_eq!((status, body["enabled"].clone()), (StatusCode::OK, json!(true)));
    let (status, listed) = app.rpc(&admin, "list_channels", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!listed.to_string().contains("sk-kept-secret"), "the credential never comes back: {listed}");
    assert!(listed["models"].as_array().unwrap().contains(&json!("echo-1")));

    let (status, test) = app.rpc(&admin, "test_channel", &[("id", &echo)]).await;
    assert_eq!((status, test["ok"].clone()), (StatusCode::OK, json!(true)), "{test}");
    let (status, _) = app.rpc(&admin, "test_channel", &[("id", "no-such-channel")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

on_both_backends!(
    key_policy_edits_check_owner_and_tenant,
    channel_functions_are_for_admins,
    admins_manage_channels_through_the_console,
);
