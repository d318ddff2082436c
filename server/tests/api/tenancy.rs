//! Tenant isolation and role checks on the management API.

use crate::helpers::{error_of, spawn_app, Backend, TestApp};
use crate::on_both_backends;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

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

/// Who sees an account's money, on every surface that shows it: the management API, the
/// console's server functions and its pages. Owners, admins and support do; members
/// (design: "no billing") see it nowhere.
async fn only_owners_and_staff_see_an_accounts_money(backend: Backend) {
    let w = world(backend).await;
    let account = &w.account_a;
    let granted = w
        .admin
        .post(w.app.url(&format!("/api/v1/accounts/{account}/credits")))
        .json(&json!({ "amount": 7_250_000, "note": "for the test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), StatusCode::CREATED);
    let as_admin: Value =
        w.admin.get(w.app.url(&format!("/api/v1/accounts/{account}"))).send().await.unwrap().json().await.unwrap();
    let balance = as_admin["balance"].as_i64().expect("admins see the balance");
    assert!(balance >= 7_250_000);
    let shown = format!("Balance {}.", balance / 1_000_000);

    for (who, client, sees) in [
        ("owner", &w.owner_a, true),
        ("admin", &w.admin, true),
        ("support", &w.support, true),
        ("member", &w.member_a, false),
    ] {
        let one: Value =
            client.get(w.app.url(&format!("/api/v1/accounts/{account}"))).send().await.unwrap().json().await.unwrap();
        let listed: Vec<Value> = client.get(w.app.url("/api/v1/accounts")).send().await.unwrap().json().await.unwrap();
        let in_list = listed.into_iter().find(|a| a["id"] == account.as_str()).expect("the account is listed");
        let (status, rpc_one) = w.app.rpc(client, "get_account", &[("id", account)]).await;
        assert_eq!(status, StatusCode::OK);
        let (_, rpc_list) = w.app.rpc(client, "list_accounts", &[]).await;
        let rpc_in_list = rpc_list.as_array().unwrap().iter().find(|a| a["id"] == account.as_str()).unwrap().clone();
        for (surface, view) in [
            ("GET /accounts/{id}", &one),
            ("GET /accounts", &in_list),
            ("get_account", &rpc_one[0]),
            ("list_accounts", &rpc_in_list),
        ] {
            assert_eq!(view["id"], account.as_str(), "{who}: {surface} {view}");
            if sees {
                assert_eq!(view["balance"], balance, "{who} sees the balance in {surface}");
                assert!(view["low_balance_threshold"].is_i64(), "{who}: {surface} {view}");
            } else {
                for field in ["balance", "low_balance_threshold"] {
                    assert!(view.get(field).is_none(), "{who} sees no {field} in {surface}: {view}");
                }
            }
        }

        let balance_route = client.get(w.app.url(&format!("/api/v1/accounts/{account}/balance"))).send().await.unwrap();
        let (rpc_balance, _) = w.app.rpc(client, "get_balance", &[("account_id", account)]).await;
        let dashboard: Value = client
            .get(w.app.url(&format!("/api/v1/accounts/{account}/dashboard")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page = client.get(w.app.url(&format!("/admin/accounts/{account}"))).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{who} opens the account's page");
        let page = page.text().await.unwrap();
        if sees {
            assert_eq!((balance_route.status(), rpc_balance), (StatusCode::OK, StatusCode::OK), "{who}");
            assert!(dashboard["money"].is_object(), "{who}: {dashboard}");
            assert!(page.contains(&shown), "{who}: the account page shows {shown}");
        } else {
            error_of(balance_route, StatusCode::FORBIDDEN, "forbidden").await;
            assert_eq!(rpc_balance, StatusCode::FORBIDDEN);
            assert!(dashboard["money"].is_null(), "{who}: {dashboard}");
            assert!(!page.contains(&shown), "{who}: the account page shows no balance");
            assert!(!page.contains(&balance.to_string()), "{who}: nor does the data the page hydrates from");
        }
    }
}

/// A caller without permission gets 403 (or 404 for what it may not see) whatever it
/// sends: its body is not read, so a malformed one changes nothing about the answer.
async fn refusals_come_before_the_body_is_read(backend: Backend) {
    let w = world(backend).await;
    let (a, b) = (&w.account_a, &w.account_b);
    let key: Value = w
        .owner_a
        .post(w.app.url(&format!("/api/v1/accounts/{a}/keys")))
        .json(&json!({ "name": "the owner's" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["id"].as_str().unwrap();
    let forbidden = [
        (&w.member_a, "PATCH", format!("/api/v1/accounts/{a}")),
        (&w.member_a, "POST", format!("/api/v1/accounts/{a}/members")),
        (&w.member_a, "POST", format!("/api/v1/accounts/{a}/credits")),
        (&w.member_a, "POST", format!("/api/v1/accounts/{a}/redeem")),
        (&w.owner_a, "PATCH", format!("/api/v1/accounts/{a}")),
        (&w.owner_a, "POST", format!("/api/v1/accounts/{a}/credits")),
        (&w.owner_a, "POST", "/api/v1/accounts".to_owned()),
        (&w.owner_a, "POST", "/api/v1/users".to_owned()),
        (&w.owner_a, "PATCH", format!("/api/v1/users/{}", w.member_a_id)),
        (&w.owner_a, "POST", "/api/v1/models".to_owned()),
        (&w.owner_a, "PATCH", "/api/v1/models/echo-1".to_owned()),
        (&w.owner_a, "POST", "/api/v1/channels".to_owned()),
        (&w.owner_a, "PATCH", "/api/v1/channels/any".to_owned()),
        (&w.owner_a, "POST", "/api/v1/redemption-codes".to_owned()),
        (&w.owner_a, "POST", "/api/v1/tokens".to_owned()),
        (&w.support, "PATCH", format!("/api/v1/accounts/{b}")),
        (&w.support, "POST", format!("/api/v1/accounts/{b}/keys")),
    ];
    let hidden = [
        (&w.owner_a, "PATCH", format!("/api/v1/accounts/{b}")),
        (&w.owner_a, "POST", format!("/api/v1/accounts/{b}/members")),
        (&w.owner_a, "POST", format!("/api/v1/accounts/{b}/keys")),
        (&w.owner_a, "POST", format!("/api/v1/accounts/{b}/redeem")),
        (&w.member_a, "PATCH", format!("/api/v1/keys/{key}")),
    ];
    let bodies: [(&str, String); 6] = [
        ("application/json", "[null,null]".to_owned()),
        ("application/json", "{\"no_such_field\": 1}".to_owned()),
        ("application/json", "{\"name\":".to_owned()),
        ("application/json", "\"text\"".to_owned()),
        ("text/plain", "hello".to_owned()),
        ("application/json", format!("{{\"name\": \"{}\"}}", "x".repeat(100_000))),
    ];
    let expected = |list: &'static str| {
        if list == "forbidden" {
            (StatusCode::FORBIDDEN, "forbidden")
        } else {
            (StatusCode::NOT_FOUND, "not_found")
        }
    };
    for (list, attempts) in [("forbidden", &forbidden[..]), ("hidden", &hidden[..])] {
        for (client, method, path) in attempts {
            for (content_type, body) in &bodies {
                let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                let response = client
                    .request(method.clone(), w.app.url(path))
                    .header("content-type", *content_type)
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let (status, code) = expected(list);
                assert_eq!(response.status(), status, "{method} {path} with {content_type} {:.20}", body);
                error_of(response, status, code).await;
            }
        }
    }

    // The console's forms too: a field that does not parse is not looked at before the check.
    let console = [
        (
            &w.member_a,
            "create_key",
            vec![("account_id", b.as_str()), ("name", "x"), ("rpm", "many")],
            StatusCode::NOT_FOUND,
        ),
        (&w.member_a, "set_key_status", vec![("id", key), ("status", "bogus")], StatusCode::NOT_FOUND),
        (
            &w.owner_a,
            "grant_credit",
            vec![("account_id", a.as_str()), ("amount", "lots"), ("note", "x")],
            StatusCode::FORBIDDEN,
        ),
        (&w.owner_a, "create_redemption_codes", vec![("amount", "lots"), ("count", "x")], StatusCode::FORBIDDEN),
        (
            &w.owner_a,
            "update_model",
            vec![
                ("code", "echo-1"),
                ("status", "active"),
                ("input_price", "?"),
                ("output_price", "?"),
                ("cache_read_price", ""),
                ("cache_write_price", ""),
            ],
            StatusCode::FORBIDDEN,
        ),
    ];
    for (client, function, form, status) in console {
        let (answered, body) = w.app.rpc(client, function, &form).await;
        assert_eq!(answered, status, "{function}: {body}");
    }
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
    only_owners_and_staff_see_an_accounts_money,
    refusals_come_before_the_body_is_read,
    unauthenticated_calls_are_refused,
);
