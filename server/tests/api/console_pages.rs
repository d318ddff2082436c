//! The server functions of the keys, usage, balance and support pages, called directly
//! over HTTP: a caller from another tenant gets 404, a caller without the role 403.

use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::Value;

async fn console_page_functions_check_role_and_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (owner_id, owner) = app.user(&admin, "owner@test.local", "user").await;
    let (member_id, member) = app.user(&admin, "member@test.local", "user").await;
    let (_, support) = app.user(&admin, "support@test.local", "support").await;
    let (stranger_id, stranger) = app.user(&admin, "stranger@test.local", "user").await;
    let own = app.account(&admin, "Own", &owner_id).await;
    let foreign = app.account(&admin, "Foreign", &stranger_id).await;
    let (status, _) = app
        .rpc(&admin, "add_member", &[("account_id", &own), ("email", "member@test.local"), ("role", "member")])
        .await;
    assert_eq!(status, StatusCode::OK);
    let _ = member_id;

    // Keys: the owner creates one with every policy field, as the form sends them.
    let (status, body) = app
        .rpc(
            &owner,
            "create_key",
            &[
                ("account_id", &own),
                ("name", "ci"),
                ("expires_at", "2999-12-31T23:59"),
                ("ip_allowlist", "127.0.0.1\r\n10.0.0.0/8\r\n"),
                ("model_whitelist[]", "echo-1"),
                ("rpm", "60"),
                ("tpm", ""),
                ("max_concurrency", "2"),
                ("spend_cap", "2.5"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"]["model_whitelist"][0], "echo-1");
    assert!(body["secret"].as_str().unwrap().starts_with("tg-"));
    assert_eq!(body["key"]["spend_cap"], 2_500_000);
    assert_eq!(body["key"]["rpm"], 60);
    assert_eq!(body["key"]["tpm"], Value::Null);
    assert_eq!(body["key"]["ip_allowlist"][1], "10.0.0.0/8");
    let key_id = body["id"].as_str().unwrap().to_owned();

    let (status, body) = app
        .rpc(&owner, "create_key", &[("account_id", &own), ("name", "bad"), ("ip_allowlist", "1.2.3.4\nnope")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("ip_allowlist[1]"), "{body}");
    let (status, body) = app
        .rpc(
            &owner,
            "create_key",
            &[("account_id", &own), ("name", "bad"), ("model_whitelist[]", "echo-1"), ("model_whitelist[]", "nope-9")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("model_whitelist[1]"), "{body}");
    let (status, _) = app.rpc(&owner, "create_key", &[("account_id", &own), ("name", "bad"), ("rpm", "many")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) =
        app.rpc(&owner, "create_key", &[("account_id", &own), ("name", "bad"), ("expires_at", "soon")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Another tenant: 404 for the account and for the key.
    let (status, _) = app.rpc(&stranger, "list_keys", &[("account_id", &own)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.rpc(&stranger, "create_key", &[("account_id", &own), ("name", "x")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.rpc(&stranger, "set_key_status", &[("id", &key_id), ("status", "disabled")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.rpc(&stranger, "revoke_key", &[("id", &key_id), ("confirm", "yes")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A member of the account does not see the owner's key.
    let (status, body) = app.rpc(&member, "list_keys", &[("account_id", &own)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["keys"].as_array().unwrap().len(), 0);
    let (status, _) = app.rpc(&member, "set_key_status", &[("id", &key_id), ("status", "disabled")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Support reads but may not create keys.
    let (status, _) = app.rpc(&support, "create_key", &[("account_id", &own), ("name", "x")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The owner disables, then revokes (only when confirmed).
    let (status, body) = app.rpc(&owner, "set_key_status", &[("id", &key_id), ("status", "disabled")]).await;
    assert_eq!((status, body["status"].clone()), (StatusCode::OK, Value::from("disabled")));
    let (status, _) = app.rpc(&owner, "set_key_status", &[("id", &key_id), ("status", "revoked")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.rpc(&owner, "revoke_key", &[("id", &key_id)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "revoking needs the confirmation");
    let (status, body) = app.rpc(&owner, "revoke_key", &[("id", &key_id), ("confirm", "yes")]).await;
    assert_eq!((status, body["status"].clone()), (StatusCode::OK, Value::from("revoked")));

    // Usage.
    let (status, _) = app.rpc(&stranger, "list_usage", &[("account_id", &own)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.rpc(&owner, "list_usage", &[("account_id", &own), ("status", ""), ("cursor", "")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.rpc(&owner, "list_usage", &[("account_id", &own), ("from", "yesterday")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = app
        .rpc(
            &owner,
            "list_usage",
            &[("account_id", &own), ("from", "2020-01-01T00:00"), ("to", "2999-01-01T00:00"), ("status", "4xx")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.rpc(&owner, "get_usage", &[("request_id", "req_unknown")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Balance: owners, admins and support read; members do not; strangers get 404.
    let (status, _) = app.rpc(&stranger, "get_balance", &[("account_id", &own)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.rpc(&member, "get_balance", &[("account_id", &own)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app.rpc(&support, "get_balance", &[("account_id", &foreign)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.rpc(&owner, "grant_credit", &[("account_id", &own), ("amount", "5"), ("note", "me")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.rpc(&owner, "create_redemption_codes", &[("amount", "5"), ("count", "1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.rpc(&support, "create_redemption_codes", &[("amount", "5"), ("count", "1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // An admin grants credit and creates a code; the owner redeems it; others cannot.
    let (status, _) =
        app.rpc(&admin, "grant_credit", &[("account_id", &own), ("amount", "1.5"), ("note", "goodwill")]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.rpc(&admin, "create_redemption_codes", &[("amount", "10"), ("count", "1")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = body["codes"][0].as_str().unwrap().to_owned();
    let (status, _) = app.rpc(&stranger, "redeem_code", &[("account_id", &own), ("code", &code)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.rpc(&member, "redeem_code", &[("account_id", &own), ("code", &code)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.rpc(&support, "redeem_code", &[("account_id", &own), ("code", &code)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let balance = |body: Value| body[0]["balance"].as_i64().unwrap();
    let (_, before) = app.rpc(&owner, "get_balance", &[("account_id", &own)]).await;
    let (status, _) = app.rpc(&owner, "redeem_code", &[("account_id", &own), ("code", &code)]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, after) = app.rpc(&owner, "get_balance", &[("account_id", &own)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(balance(after) - balance(before), 10_000_000);
}

on_both_backends!(console_page_functions_check_role_and_tenant);
