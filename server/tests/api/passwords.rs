//! Changing one's password (the current one required, other sessions end) and the
//! admin-issued one-time reset link, over the management API on both databases.

use crate::helpers::{
    browser, browser_at, error_of, spawn_app, spawn_app_with, Backend, TestApp, ADMIN_PASSWORD, PASSWORD,
};
use crate::on_both_backends;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const EMAIL: &str = "changer@test.local";
const NEW_PASSWORD: &str = "a brand new password";

async fn change(app: &TestApp, client: &Client, current: &str, new: &str) -> reqwest::Response {
    let body = json!({ "current_password": current, "new_password": new });
    client.put(app.url("/api/v1/me/password")).json(&body).send().await.unwrap()
}

async fn me_status(app: &TestApp, client: &Client) -> StatusCode {
    client.get(app.url("/api/v1/me")).send().await.unwrap().status()
}

async fn audit_actions(app: &TestApp, admin: &Client, action: &str) -> Vec<Value> {
    let page: Value =
        admin.get(app.url(&format!("/api/v1/audit?action={action}"))).send().await.unwrap().json().await.unwrap();
    page["entries"].as_array().unwrap().clone()
}

async fn the_current_password_is_required_and_other_sessions_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (user_id, here) = app.user(&admin, EMAIL, "user").await;
    let elsewhere = browser();
    assert_eq!(app.sign_in(&elsewhere, EMAIL, PASSWORD).await.status(), StatusCode::OK);

    let wrong = change(&app, &here, "not my password", NEW_PASSWORD).await;
    let wrong = error_of(wrong, StatusCode::BAD_REQUEST, "invalid_value").await;
    assert_eq!(wrong["param"], "current_password");
    let short = error_of(change(&app, &here, PASSWORD, "short").await, StatusCode::BAD_REQUEST, "invalid_value").await;
    assert_eq!(short["param"], "new_password");
    assert_eq!(me_status(&app, &elsewhere).await, StatusCode::OK, "refused changes end nothing");

    assert_eq!(change(&app, &here, PASSWORD, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, &here).await, StatusCode::OK, "the session that changed it carries on");
    error_of(elsewhere.get(app.url("/api/v1/me")).send().await.unwrap(), StatusCode::UNAUTHORIZED, "not_signed_in")
        .await;
    assert_eq!(me_status(&app, &admin).await, StatusCode::OK, "other users' sessions are untouched");

    assert_eq!(app.sign_in(&browser(), EMAIL, PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.sign_in(&browser(), EMAIL, NEW_PASSWORD).await.status(), StatusCode::OK);
    let changes = audit_actions(&app, &admin, "user.password_change").await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["actor_id"], user_id.as_str());
}

async fn wrong_current_passwords_are_throttled_like_sign_in(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.sign_in_attempts_per_email_and_ip = 3).await;
    let admin = app.admin().await;
    let (_, user) = app.user(&admin, EMAIL, "user").await;
    for _ in 0..3 {
        assert_eq!(change(&app, &user, "a guess", NEW_PASSWORD).await.status(), StatusCode::BAD_REQUEST);
    }
    let throttled = change(&app, &user, PASSWORD, NEW_PASSWORD).await;
    assert!(throttled.headers().contains_key("retry-after"));
    error_of(throttled, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // The budget is the sign-in one: signing in from this address waits too; from another it works.
    error_of(app.sign_in(&browser(), EMAIL, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    let elsewhere = app.sign_in(&browser_at("127.0.0.5"), EMAIL, PASSWORD).await;
    assert_eq!(elsewhere.status(), StatusCode::OK, "the password is unchanged");
}

async fn issue_link(app: &TestApp, admin: &Client, user_id: &str) -> Value {
    let issued = admin.post(app.url(&format!("/api/v1/users/{user_id}/reset-link"))).send().await.unwrap();
    assert_eq!(issued.status(), StatusCode::CREATED);
    issued.json().await.unwrap()
}

async fn reset(app: &TestApp, token: &str, new: &str) -> reqwest::Response {
    let body = json!({ "token": token, "new_password": new });
    Client::new().post(app.url("/api/v1/password-reset")).json(&body).send().await.unwrap()
}

async fn unusable(response: reqwest::Response) {
    let error = error_of(response, StatusCode::BAD_REQUEST, "invalid_value").await;
    assert_eq!(error["param"], "token");
}

async fn a_reset_link_works_once_and_signs_the_user_out_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (user_id, user) = app.user(&admin, EMAIL, "user").await;
    let issued = issue_link(&app, &admin, &user_id).await;
    let token = issued["token"].as_str().unwrap();
    assert!(token.starts_with("tgr-"), "{issued}");
    assert_eq!(issued["email"], EMAIL);
    assert_eq!(issued["path"], format!("/reset-password?token={token}"));
    assert_eq!(issued["link"], app.url(&format!("/reset-password?token={token}")));

    let stored: Vec<(String,)> = query(&app, "SELECT secret_hash FROM password_resets").await;
    assert_eq!(stored.len(), 1);
    assert!(!token.contains(&stored[0].0) && !stored[0].0.contains(token), "only a hash is stored");
    let entries = audit_actions(&app, &admin, "user.reset_link").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["target_id"], user_id.as_str());
    assert!(!entries[0].to_string().contains(&token[4..]), "the audit log never holds the secret");

    unusable(reset(&app, &format!("{token}x"), NEW_PASSWORD).await).await;
    let short = error_of(reset(&app, token, "short").await, StatusCode::BAD_REQUEST, "invalid_value").await;
    assert_eq!(short["param"], "new_password");
    assert_eq!(me_status(&app, &user).await, StatusCode::OK);

    assert_eq!(reset(&app, token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, &user).await, StatusCode::UNAUTHORIZED, "every session of the user ended");
    assert_eq!(me_status(&app, &admin).await, StatusCode::OK);
    assert_eq!(app.sign_in(&browser(), EMAIL, PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.sign_in(&browser(), EMAIL, NEW_PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(audit_actions(&app, &admin, "user.password_reset").await.len(), 1);

    unusable(reset(&app, token, "yet another password").await).await;
    assert_eq!(app.sign_in(&browser(), EMAIL, NEW_PASSWORD).await.status(), StatusCode::OK, "used once only");
}

async fn a_reset_link_expires_and_a_newer_one_replaces_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (user_id, _) = app.user(&admin, EMAIL, "user").await;
    let first = issue_link(&app, &admin, &user_id).await;
    let second = issue_link(&app, &admin, &user_id).await;
    unusable(reset(&app, first["token"].as_str().unwrap(), NEW_PASSWORD).await).await;

    let in_a_day = app::clock::now_ms() + 24 * 3600 * 1000;
    let expires_at = second["expires_at"].as_i64().unwrap();
    assert!((in_a_day - 60_000..=in_a_day + 60_000).contains(&expires_at), "valid for 24 hours");
    execute(&app, "UPDATE password_resets SET expires_at = 1").await;
    unusable(reset(&app, second["token"].as_str().unwrap(), NEW_PASSWORD).await).await;
    assert_eq!(app.sign_in(&browser(), EMAIL, PASSWORD).await.status(), StatusCode::OK, "the password is unchanged");
}

async fn only_admins_issue_reset_links(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (user_id, user) = app.user(&admin, EMAIL, "user").await;
    let (_, support) = app.user(&admin, "support@test.local", "support").await;
    let me: Value = admin.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    let admin_id = me["user"]["id"].as_str().unwrap();
    for (client, target) in [(&user, admin_id), (&user, user_id.as_str()), (&support, admin_id)] {
        let refused = client.post(app.url(&format!("/api/v1/users/{target}/reset-link"))).send().await.unwrap();
        error_of(refused, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let (status, _) = app.rpc(&user, "create_reset_link", &[("user_id", admin_id)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let stored: Vec<(String,)> = query(&app, "SELECT id FROM password_resets").await;
    assert!(stored.is_empty());
    let unknown = admin.post(app.url("/api/v1/users/no-such-user/reset-link")).send().await.unwrap();
    error_of(unknown, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.sign_in(&browser(), crate::helpers::ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::OK);
}

async fn pool(app: &TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&app.database.url).await.unwrap()
}

async fn query(app: &TestApp, sql: &str) -> Vec<(String,)> {
    sqlx::query_as(sql).fetch_all(&pool(app).await).await.unwrap()
}

async fn execute(app: &TestApp, sql: &str) {
    sqlx::query(sql).execute(&pool(app).await).await.unwrap();
}

on_both_backends!(
    the_current_password_is_required_and_other_sessions_end,
    wrong_current_passwords_are_throttled_like_sign_in,
    a_reset_link_works_once_and_signs_the_user_out_everywhere,
    a_reset_link_expires_and_a_newer_one_replaces_it,
    only_admins_issue_reset_links,
);
