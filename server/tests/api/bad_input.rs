//! Bad input anywhere gets the contract's error body with a 4xx, never a 500.

use crate::helpers::{error_of, spawn_app, Backend};
use crate::on_both_backends;
use reqwest::StatusCode;

async fn malformed_bodies_get_clear_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let post = |body: &'static str, content_type: &'static str| {
        admin.post(app.url("/api/v1/users")).header("content-type", content_type).body(body)
    };

    error_of(post("{\"email\":", "application/json").send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_json")
        .await;
    error_of(post("{} trailing", "application/json").send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_json")
        .await;
    error_of(
        post("email=a", "application/x-www-form-urlencoded").send().await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let missing = error_of(
        post(r#"{"email":"a@test.local","role":"user"}"#, "application/json").send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "missing_field",
    )
    .await;
    assert_eq!(missing["param"], "password");

    let unknown = r#"{"email":"a@test.local","password":"long enough password","role":"user","is_root":true}"#;
    let unknown =
        error_of(post(unknown, "application/json").send().await.unwrap(), StatusCode::BAD_REQUEST, "unknown_field")
            .await;
    assert_eq!(unknown["param"], "is_root");

    let mistyped = r#"{"email":"a@test.local","password":12,"role":"user"}"#;
    let mistyped =
        error_of(post(mistyped, "application/json").send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_type")
            .await;
    assert_eq!(mistyped["param"], "password");

    let bad_role = r#"{"email":"a@test.local","password":"long enough password","role":"root"}"#;
    let bad_role =
        error_of(post(bad_role, "application/json").send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_type")
            .await;
    assert_eq!(bad_role["param"], "role");

    let huge = format!(r#"{{"email":"{}@test.local","password":"x","role":"user"}}"#, "a".repeat(100_000));
    let too_large = admin
        .post(app.url("/api/v1/users"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    error_of(too_large, StatusCode::PAYLOAD_TOO_LARGE, "request_too_large").await;
}

async fn invalid_values_are_named(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let create = |body: serde_json::Value| admin.post(app.url("/api/v1/users")).json(&body);

    let email = error_of(
        create(serde_json::json!({"email": "not-an-email", "password": "long enough password", "role": "user"}))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_value",
    )
    .await;
    assert_eq!(email["param"], "email");

    let short = error_of(
        create(serde_json::json!({"email": "a@test.local", "password": "short", "role": "user"})).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_value",
    )
    .await;
    assert_eq!(short["param"], "password");

    let duplicate =
        create(serde_json::json!({"email": "ADMIN@test.local", "password": "long enough password", "role": "user"}));
    error_of(duplicate.send().await.unwrap(), StatusCode::CONFLICT, "conflict").await;

    let me: serde_json::Value = admin.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    let account = me["accounts"][0]["account_id"].as_str().unwrap();
    let negative = admin
        .patch(app.url(&format!("/api/v1/accounts/{account}")))
        .json(&serde_json::json!({"low_balance_threshold": "lots"}))
        .send()
        .await
        .unwrap();
    error_of(negative, StatusCode::BAD_REQUEST, "invalid_type").await;
}

/// A body is a JSON object: an array or a bare value is refused, even where every field
/// may be left out (serde alone reads `[null, null]` as an `AccountChange`).
async fn bodies_that_are_not_objects_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let me: serde_json::Value = admin.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    let account = me["accounts"][0]["account_id"].as_str().unwrap().to_owned();
    let user = me["user"]["id"].as_str().unwrap().to_owned();
    let routes = [
        (reqwest::Method::PATCH, format!("/api/v1/accounts/{account}")),
        (reqwest::Method::PATCH, format!("/api/v1/users/{user}")),
        (reqwest::Method::PATCH, "/api/v1/models/echo-1".to_owned()),
        (reqwest::Method::POST, "/api/v1/tokens".to_owned()),
        (reqwest::Method::POST, format!("/api/v1/accounts/{account}/keys")),
    ];
    for (method, path) in routes {
        for body in ["[null,null]", "[]", "[\"a\", 1]", "null", "\"text\"", "42", "true"] {
            let response = admin
                .request(method.clone(), app.url(&path))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let error = error_of(response, StatusCode::BAD_REQUEST, "invalid_type").await;
            assert_eq!(error["param"], "body", "{method} {path} {body}");
        }
    }
    let account_now: serde_json::Value =
        admin.get(app.url(&format!("/api/v1/accounts/{account}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(account_now["status"], "active", "nothing was changed");
}

async fn unknown_routes_and_methods_use_the_error_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = reqwest::Client::new();
    let unknown = error_of(
        client.get(app.url("/api/v1/nothing-here")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "unknown_route",
    )
    .await;
    assert_eq!(unknown["layer"], "request");
    assert!(unknown["message"].as_str().unwrap().contains("/api/v1/nothing-here"));
    error_of(
        client.put(app.url("/api/v1/me")).send().await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

/// A channel's URL holds no credential, and its credential no header break.
async fn channel_credentials_stay_where_they_belong(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let create = |base_url: &str, credential: &str| {
        let body =
            serde_json::json!({"name": "c", "protocol": "openai", "base_url": base_url, "credential": credential});
        admin.post(app.url("/api/v1/channels")).json(&body).send()
    };
    let userinfo = create("https://user:secret@api.example.com/v1", "sk-fine").await.unwrap();
    assert_eq!(error_of(userinfo, StatusCode::BAD_REQUEST, "invalid_value").await["param"], "base_url");
    let smuggled = create("https://api.example.com/v1", "sk-fine\r\nx-injected: 1").await.unwrap();
    assert_eq!(error_of(smuggled, StatusCode::BAD_REQUEST, "invalid_value").await["param"], "credential");
    let fine = create("https://api.example.com/v1?version=user@2", "sk-fine").await.unwrap();
    assert_eq!(fine.status(), StatusCode::CREATED, "an @ after the host is not a credential");
}

on_both_backends!(
    channel_credentials_stay_where_they_belong,
    malformed_bodies_get_clear_errors,
    invalid_values_are_named,
    bodies_that_are_not_objects_are_refused,
    unknown_routes_and_methods_use_the_error_shape
);
