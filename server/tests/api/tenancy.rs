//! Tenant isolation and role checks on the management API.

use crate::helpers::{error_of, spawn_app, Backend, TestApp};
use crate::on_both_backends;
use reqwest::{Client, StatusCode};
use serde_json::json;

/// Two tenants, each with an owner, plus a support user and a member of tenant A.
struct World {
    app: TestApp,
    admin: Client,
    owner_a: Client,
    member_a: Client,
    member_a_id: String,
    owner_b_id: String,
    support: Client,
    account_a: String,
    account_b: String,
}

async fn world(backend: Backend) -> World {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (owner_a_id, owner_a) = app.user(&admin, "owner-a@test.local", "user").await;
    let (owner_b_id, _owner_b) = app.user(&admin, "owner-b@test.local", "user").await;
    let (member_a_id, member_a) = app.user(&admin, "member-a@test.local", "user").await;
    let (_, support) = app.user(&admin, "support@test.local", "support").await;
    let account_a = app.account(&admin, "Tenant A", &owner_a_id).await;
    let account_b = app.account(&admin, "Tenant B", &owner_b_id).await;
    let invited = owner_a
        .post(app.url(&format!("/api/v1/accounts/{account_a}/invitations")))
        .json(&json!({ "email": "member-a@test.local", "role": "member" }))
        .send()
        .await
        .unwrap();
    assert_eq!(invited.status(), StatusCode::ACCEPTED, "owners invite members to their own account");
    let invitation: serde_json::Value = invited.json().await.unwrap();
    let accept = app.url(&format!("/api/v1/invitations/{}/accept", invitation["id"].as_str().unwrap()));
    assert_eq!(member_a.post(accept).send().await.unwrap().status(), StatusCode::OK, "the member accepts");
    World { app, admin, owner_a, member_a, member_a_id, owner_b_id, support, account_a, account_b }
}

async fn users_cannot_see_or_change_other_tenants(backend: Backend) {
    let w = world(backend).await;
    let other = &w.account_b;
    let attempts = [
        w.owner_a.get(w.app.url(&format!("/api/v1/accounts/{other}"))),
        w.owner_a.get(w.app.url(&format!("/api/v1/accounts/{other}/members"))),
        w.owner_a.patch(w.app.url(&format!("/api/v1/accounts/{other}"))).json(&json!({ "status": "suspended" })),
        w.owner_a
            .post(w.app.url(&format!("/api/v1/accounts/{other}/members")))
            .json(&json!({ "user_id": w.member_a_id, "role": "owner" })),
        w.owner_a
            .post(w.app.url(&format!("/api/v1/accounts/{other}/invitations")))
            .json(&json!({ "email": "member-a@test.local", "role": "owner" })),
        w.owner_a.get(w.app.url(&format!("/api/v1/accounts/{other}/invitations"))),
        w.owner_a.delete(w.app.url(&format!("/api/v1/accounts/{other}/members/{}", w.owner_b_id))),
        w.owner_a.get(w.app.url("/api/v1/accounts/no-such-account")),
    ];
    for attempt in attempts {
        let error = error_of(attempt.send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(error["layer"], "request");
    }
    let listed: Vec<serde_json::Value> =
        w.owner_a.get(w.app.url("/api/v1/accounts")).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Tenant A"], "a user lists only their own accounts");

    let members: Vec<serde_json::Value> = w
        .admin
        .get(w.app.url(&format!("/api/v1/accounts/{other}/members")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(members.len(), 1, "tenant B's membership is unchanged");
}

async fn members_read_but_do_not_manage_their_account(backend: Backend) {
    let w = world(backend).await;
    let account = &w.account_a;
    let read = w.member_a.get(w.app.url(&format!("/api/v1/accounts/{account}/members"))).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let add = w
        .member_a
        .post(w.app.url(&format!("/api/v1/accounts/{account}/members")))
        .json(&json!({ "user_id": w.owner_b_id, "role": "member" }))
        .send()
        .await
        .unwrap();
    let error = error_of(add, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(error["layer"], "permission");
}

async fn plain_users_cannot_reach_admin_routes(backend: Backend) {
    let w = world(backend).await;
    let attempts = [
        w.owner_a.get(w.app.url("/api/v1/users")),
        w.owner_a
            .post(w.app.url("/api/v1/users"))
            .json(&json!({ "email": "x@test.local", "password": "long enough password", "role": "admin" })),
        w.owner_a.patch(w.app.url(&format!("/api/v1/users/{}", w.member_a_id))).json(&json!({ "role": "admin" })),
        w.owner_a.post(w.app.url("/api/v1/accounts")).json(&json!({ "name": "Mine" })),
        w.owner_a
            .patch(w.app.url(&format!("/api/v1/accounts/{}", w.account_a)))
            .json(&json!({ "low_balance_threshold": 5 })),
        w.owner_a.get(w.app.url("/api/v1/tokens")),
        w.owner_a.post(w.app.url("/api/v1/tokens")).json(&json!({ "name": "mine" })),
    ];
    for attempt in attempts {
        error_of(attempt.send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    }
    let me: serde_json::Value = w.admin.get(w.app.url("/api/v1/users")).send().await.unwrap().json().await.unwrap();
    let member = me.as_array().unwrap().iter().find(|u| u["id"] == w.member_a_id.as_str()).unwrap();
    assert_eq!(member["role"], "user", "the refused promotion did not happen");
}

async fn support_reads_everything_and_changes_nothing(backend: Backend) {
    let w = world(backend).await;
    for path in [
        "/api/v1/users".to_owned(),
        "/api/v1/accounts".to_owned(),
        format!("/api/v1/accounts/{}", w.account_b),
        format!("/api/v1/accounts/{}/members", w.account_b),
    ] {
        let response = w.support.get(w.app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "support reads {path}");
    }
    let writes = [
        w.support
            .post(w.app.url("/api/v1/users"))
            .json(&json!({ "email": "y@test.local", "password": "long enough password", "role": "user" })),
        w.support.post(w.app.url("/api/v1/accounts")).json(&json!({ "name": "Support's" })),
        w.support
            .patch(w.app.url(&format!("/api/v1/accounts/{}", w.account_b)))
            .json(&json!({ "status": "suspended" })),
        w.support
            .post(w.app.url(&format!("/api/v1/accounts/{}/members", w.account_b)))
            .json(&json!({ "user_id": w.member_a_id, "role": "member" })),
        w.support.post(w.app.url("/api/v1/tokens")).json(&json!({ "name": "support" })),
    ];
    for write in writes {
        error_of(write.send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    }
}

async fn admins_manage_tenants_and_the_last_owner_stays(backend: Backend) {
    let w = world(backend).await;
    let account = &w.account_b;
    let changed = w
        .admin
        .patch(w.app.url(&format!("/api/v1/accounts/{account}")))
        .json(&json!({ "status": "suspended", "low_balance_threshold": 2_000_000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: serde_json::Value = changed.json().await.unwrap();
    assert_eq!(changed["status"], "suspended");
    assert_eq!(changed["low_balance_threshold"], 2_000_000);

    let last_owner = w
        .admin
        .delete(w.app.url(&format!("/api/v1/accounts/{account}/members/{}", w.owner_b_id)))
        .send()
        .await
        .unwrap();
    let error = error_of(last_owner, StatusCode::BAD_REQUEST, "invalid_value").await;
    assert!(error["message"].as_str().unwrap().contains("at least one owner"));

    let member_removed = w
        .owner_a
        .delete(w.app.url(&format!("/api/v1/accounts/{}/members/{}", w.account_a, w.member_a_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(member_removed.status(), StatusCode::NO_CONTENT);
    error_of(
        w.member_a.get(w.app.url(&format!("/api/v1/accounts/{}", w.account_a))).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn unauthenticated_calls_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let anonymous = Client::new();
    for path in ["/api/v1/me", "/api/v1/users", "/api/v1/accounts"] {
        let error =
            error_of(anonymous.get(app.url(path)).send().await.unwrap(), StatusCode::UNAUTHORIZED, "not_signed_in")
                .await;
        assert_eq!(error["layer"], "identity");
    }
}

on_both_backends!(
    users_cannot_see_or_change_other_tenants,
    members_read_but_do_not_manage_their_account,
    plain_users_cannot_reach_admin_routes,
    support_reads_everything_and_changes_nothing,
    admins_manage_tenants_and_the_last_owner_stays,
    unauthenticated_calls_are_refused,
);
