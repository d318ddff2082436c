//! The console's server functions enforce roles and tenancy themselves: called directly
//! over HTTP (not through the UI), they refuse callers without the role or the tenant.

use crate::helpers::{browser, spawn_app, Backend, TestApp};
use crate::on_both_backends;
use reqwest::{Client, StatusCode};
use serde_json::Value;

async fn call(app: &TestApp, client: &Client, name: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = client.post(app.url(&format!("/rpc/{name}"))).form(form).send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

async fn server_functions_check_role_and_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (owner_id, owner) = app.user(&admin, "owner@test.local", "user").await;
    let (_, support) = app.user(&admin, "support@test.local", "support").await;
    let (other_owner_id, _) = app.user(&admin, "other@test.local", "user").await;
    let own = app.account(&admin, "Own", &owner_id).await;
    let foreign = app.account(&admin, "Foreign", &other_owner_id).await;

    let (status, body) = call(&app, &browser(), "list_users", &[]).await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, Value::String("Unauthenticated".into())));

    let (status, body) = call(&app, &owner, "list_users", &[]).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, Value::String("Forbidden".into())));

    let (status, _) = call(
        &app,
        &owner,
        "create_user",
        &[("email", "new@test.local"), ("password", "long enough password"), ("role", "admin")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &app,
        &support,
        "create_user",
        &[("email", "new@test.local"), ("password", "long enough password"), ("role", "admin")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&app, &support, "create_account", &[("name", "Support's own")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = call(&app, &owner, "get_account", &[("id", &foreign)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) =
        call(&app, &owner, "add_member", &[("account_id", &foreign), ("email", "owner@test.local"), ("role", "owner")])
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&app, &owner, "switch_account", &[("account_id", &foreign)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = call(&app, &owner, "get_account", &[("id", &own)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["name"], "Own");
    let (status, body) = call(&app, &support, "get_account", &[("id", &foreign)]).await;
    assert_eq!(status, StatusCode::OK, "support reads any tenant");
    assert_eq!(body[0]["name"], "Foreign");

    let (status, body) = call(
        &app,
        &admin,
        "create_user",
        &[("email", "made@test.local"), ("password", "long enough password"), ("role", "support")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["role"], "support");
}

on_both_backends!(server_functions_check_role_and_tenant);
