//! The console's server functions enforce roles and tenancy themselves: called directly
//! over HTTP (not through the UI), they refuse callers without the role or the tenant.

use crate::helpers::{browser, spawn_app, Backend};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn server_functions_check_role_and_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (owner_id, owner) = app.user(&admin, "owner@test.local", "user").await;
    let (_, support) = app.user(&admin, "support@test.local", "support").await;
    let (other_owner_id, _) = app.user(&admin, "other@test.local", "user").await;
    let own = app.account(&admin, "Own", &owner_id).await;
    let foreign = app.account(&admin, "Foreign", &other_owner_id).await;

    let (status, body) = app.rpc(&browser(), "list_users", &[]).await;
    assert_eq!((status, &body["error"]), (StatusCode::UNAUTHORIZED, &json!("Unauthenticated")));

    let (status, body) = app.rpc(&owner, "list_users", &[]).await;
    assert_eq!((status, &body["error"]), (StatusCode::FORBIDDEN, &json!("Forbidden")));

    let (status, _) = app
        .rpc(
            &owner,
            "create_user",
            &[("email", "new@test.local"), ("password", "long enough password"), ("role", "admin")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .rpc(
            &support,
            "create_user",
            &[("email", "new@test.local"), ("password", "long enough password"), ("role", "admin")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.rpc(&support, "create_account", &[("name", "Support's own")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = app.rpc(&owner, "get_account", &[("id", &foreign)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = app
        .rpc(&owner, "add_member", &[("account_id", &foreign), ("email", "owner@test.local"), ("role", "owner")])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.rpc(&owner, "switch_account", &[("account_id", &foreign)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = app.rpc(&owner, "get_account", &[("id", &own)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["name"], "Own");
    let (status, body) = app.rpc(&support, "get_account", &[("id", &foreign)]).await;
    assert_eq!(status, StatusCode::OK, "support reads any tenant");
    assert_eq!(body[0]["name"], "Foreign");

    let (status, body) = app
        .rpc(
            &admin,
            "create_user",
            &[("email", "made@test.local"), ("password", "long enough password"), ("role", "support")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["role"], "support");
}

/// Every error a server function returns carries the id of the request that failed (the
/// response's `x-request-id`), so the console can show it beside the sentence.
async fn server_function_errors_carry_their_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (_, owner) = app.user(&admin, "owner@test.local", "user").await;
    let failures = [
        (&owner, "list_users", vec![], StatusCode::FORBIDDEN, json!("Forbidden")),
        (
            &owner,
            "get_account",
            vec![("id", "nope")],
            StatusCode::NOT_FOUND,
            json!({ "NotFound": { "what": "account" } }),
        ),
        (&admin, "create_account", vec![("name", " ")], StatusCode::BAD_REQUEST, Value::Null),
        (
            &admin,
            "sign_in",
            vec![("email", "admin@test.local"), ("password", "wrong")],
            StatusCode::UNAUTHORIZED,
            json!("InvalidCredentials"),
        ),
    ];
    for (client, name, form, expected_status, expected_error) in failures {
        let response = client.post(app.url(&format!("/rpc/{name}"))).form(&form).send().await.unwrap();
        assert_eq!(response.status(), expected_status, "{name}");
        let header = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["request_id"], header.as_str(), "{name}: {body}");
        if !expected_error.is_null() {
            assert_eq!(body["error"], expected_error, "{name}");
        }
    }
}

on_both_backends!(server_functions_check_role_and_tenant, server_function_errors_carry_their_request_id);
