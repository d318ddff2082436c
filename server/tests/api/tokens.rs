//! Management tokens: shown once, stored hashed, act with the creator's role, revocable.

use crate::helpers::{browser, error_of, spawn_app, Backend, ADMIN_EMAIL};
use crate::on_both_backends;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

async fn a_token_works_until_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let created = admin.post(app.url("/api/v1/tokens")).json(&json!({ "name": "ci" })).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with(created["prefix"].as_str().unwrap()), "the prefix is the token's public part");

    let automation = Client::new();
    let me = automation.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"]["role"], "admin");
    let created_account = automation
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&token)
        .json(&json!({ "name": "From CI" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created_account.status(), StatusCode::CREATED);

    let listed = admin.get(app.url("/api/v1/tokens")).send().await.unwrap().text().await.unwrap();
    let secret = token.rsplit('-').next().unwrap();
    assert!(!listed.contains(secret), "the secret is never shown again");
    let stored: Vec<(String,)> = {
        use sqlx::Connection;
        match backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&app.database.url).await.unwrap();
                sqlx::query_as("SELECT secret_hash FROM management_tokens").fetch_all(&mut conn).await.unwrap()
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&app.database.url).await.unwrap();
                sqlx::query_as("SELECT secret_hash FROM management_tokens").fetch_all(&mut conn).await.unwrap()
            }
        }
    };
    assert!(stored.iter().all(|(hash,)| !hash.contains(secret)), "only a hash is stored");

    let revoked = admin.delete(app.url(&format!("/api/v1/tokens/{id}"))).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let refused = automation.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    error_of(refused, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

async fn malformed_and_forged_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let created: Value = admin
        .post(app.url("/api/v1/tokens"))
        .json(&json!({ "name": "ci" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let prefix = created["prefix"].as_str().unwrap();
    let forged = format!("{prefix}-{}", "A".repeat(40));
    for token in ["garbage", "tgm-short-secret", forged.as_str()] {
        let response = Client::new().get(app.url("/api/v1/me")).bearer_auth(token).send().await.unwrap();
        let error = error_of(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
        assert!(!error["message"].as_str().unwrap().contains(token), "messages never echo a secret");
    }
}

/// The console's token server functions refuse everyone but admins, and revoking there
/// needs the confirmation ticked.
async fn token_server_functions_are_for_admins_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (_, support) = app.user(&admin, "support@test.local", "support").await;
    let (_, user) = app.user(&admin, "user@test.local", "user").await;
    let rpc = |client: &Client, name: &str, form: &[(&str, &str)]| {
        client.post(app.url(&format!("/rpc/{name}"))).form(form).send()
    };

    let created = rpc(&admin, "create_token", &[("name", "deploy")]).await.unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["created_by_email"], ADMIN_EMAIL);

    let stranger = browser();
    for (name, form) in [
        ("list_tokens", vec![]),
        ("create_token", vec![("name", "sneaky")]),
        ("revoke_token", vec![("id", id.as_str()), ("confirm", "yes")]),
    ] {
        assert_eq!(rpc(&stranger, name, &form).await.unwrap().status(), StatusCode::UNAUTHORIZED, "{name}");
        for client in [&support, &user] {
            let refused = rpc(client, name, &form).await.unwrap();
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{name}");
            assert_eq!(refused.json::<Value>().await.unwrap()["error"], json!("Forbidden"));
        }
    }

    let unconfirmed = rpc(&admin, "revoke_token", &[("id", &id)]).await.unwrap();
    assert_eq!(unconfirmed.status(), StatusCode::BAD_REQUEST);
    let listed: Value = rpc(&admin, "list_tokens", &[]).await.unwrap().json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "nobody else created a token");
    assert!(listed[0]["revoked_at"].is_null(), "not revoked without the confirmation");
    assert_eq!(listed[0]["created_by_email"], ADMIN_EMAIL);

    let revoked = rpc(&admin, "revoke_token", &[("id", &id), ("confirm", "yes")]).await.unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let listed: Value = rpc(&admin, "list_tokens", &[]).await.unwrap().json().await.unwrap();
    assert!(listed[0]["revoked_at"].is_i64());
}

on_both_backends!(
    a_token_works_until_revoked,
    malformed_and_forged_tokens_are_refused,
    token_server_functions_are_for_admins_only,
);
