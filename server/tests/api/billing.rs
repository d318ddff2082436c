//! Billing on the management API: balance, ledger, credit grants, redemption codes,
//! trial credit; and (in `reservations`) the gateway's reserve / settle / release.
//! Every scenario ends by checking that the balance equals the sum of the ledger.

mod reservations;

use crate::helpers::{error_of, spawn_app, spawn_app_with, Backend, TestApp};
use crate::on_both_backends;
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{json, Value};

/// An account with its owner and a member, a support user, and a stranger who owns another account.
struct World {
    app: TestApp,
    admin: Client,
    owner: Client,
    member: Client,
    support: Client,
    stranger: Client,
    account: String,
    other_account: String,
}

async fn world(backend: Backend) -> World {
    world_of(spawn_app(backend).await).await
}

async fn world_of(app: TestApp) -> World {
    let admin = app.admin().await;
    let (owner_id, owner) = app.user(&admin, "owner@test.local", "user").await;
    let (member_id, member) = app.user(&admin, "member@test.local", "user").await;
    let (_, support) = app.user(&admin, "support@test.local", "support").await;
    let (stranger_id, stranger) = app.user(&admin, "stranger@test.local", "user").await;
    let account = app.account(&admin, "Billed", &owner_id).await;
    let other_account = app.account(&admin, "Elsewhere", &stranger_id).await;
    let added = admin
        .post(app.url(&format!("/api/v1/accounts/{account}/members")))
        .json(&json!({ "user_id": member_id, "role": "member" }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    World { app, admin, owner, member, support, stranger, account, other_account }
}

fn grant_request(app: &TestApp, client: &Client, account: &str, amount: i64) -> RequestBuilder {
    client
        .post(app.url(&format!("/api/v1/accounts/{account}/credits")))
        .json(&json!({ "amount": amount, "note": "top-up for tests" }))
}

/// An admin's grant that must succeed; returns the ledger entry.
pub async fn grant(app: &TestApp, admin: &Client, account: &str, amount: i64) -> Value {
    let response = grant_request(app, admin, account, amount).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn get_json(client: &Client, url: String) -> Value {
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    response.json().await.unwrap()
}

/// Every ledger entry of the account, newest first, read page by page.
pub async fn whole_ledger(app: &TestApp, reader: &Client, account: &str, page_size: u32) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor = String::new();
    loop {
        let url = app.url(&format!("/api/v1/accounts/{account}/ledger?limit={page_size}&cursor={cursor}"));
        let page = get_json(reader, url).await;
        entries.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return entries,
        }
    }
}

/// Reads the balance and the whole ledger through the API, checks that the balance is the
/// ledger's sum, and returns the balance view.
pub async fn assert_books_balance(app: &TestApp, reader: &Client, account: &str) -> Value {
    let balance = get_json(reader, app.url(&format!("/api/v1/accounts/{account}/balance"))).await;
    let ledger_sum: i64 =
        whole_ledger(app, reader, account, 200).await.iter().map(|entry| entry["amount"].as_i64().unwrap()).sum();
    assert_eq!(balance["balance"].as_i64(), Some(ledger_sum), "the balance equals the sum of the ledger: {balance}");
    let available = balance["balance"].as_i64().unwrap() - balance["reserved"].as_i64().unwrap();
    assert_eq!(balance["available"].as_i64(), Some(available));
    balance
}

async fn admins_grant_and_owners_and_support_read(backend: Backend) {
    let w = world(backend).await;
    let (app, account) = (&w.app, w.account.as_str());
    let empty = assert_books_balance(app, &w.admin, account).await;
    assert_eq!(empty["balance"], 0, "no trial credit unless configured");

    let entry = grant(app, &w.admin, account, 5_000_000).await;
    assert_eq!(entry["kind"], "grant");
    assert_eq!(entry["amount"], 5_000_000);
    assert_eq!(entry["note"], "top-up for tests");

    for reader in [&w.owner, &w.support, &w.admin] {
        let balance = assert_books_balance(app, reader, account).await;
        assert_eq!(balance["account_id"], account);
        assert_eq!((balance["balance"].as_i64(), balance["reserved"].as_i64()), (Some(5_000_000), Some(0)));
        assert_eq!(balance["low_balance"], false);
    }
    let raised = w
        .admin
        .patch(app.url(&format!("/api/v1/accounts/{account}")))
        .json(&json!({ "low_balance_threshold": 6_000_000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(raised.status(), StatusCode::OK);
    let balance = assert_books_balance(app, &w.owner, account).await;
    assert_eq!(
        (balance["low_balance"].as_bool(), balance["low_balance_threshold"].as_i64()),
        (Some(true), Some(6_000_000))
    );

    for path in ["balance", "ledger"] {
        let url = app.url(&format!("/api/v1/accounts/{account}/{path}"));
        let error = error_of(w.member.get(&url).send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
        assert_eq!(error["layer"], "permission");
        error_of(w.stranger.get(&url).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    }
    for refused in [&w.owner, &w.member, &w.support] {
        error_of(grant_request(app, refused, account, 1).send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden")
            .await;
    }
    error_of(grant_request(app, &w.stranger, account, 1).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found")
        .await;
    error_of(
        grant_request(app, &w.admin, "no-such-account", 1).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let balance = assert_books_balance(app, &w.admin, account).await;
    assert_eq!(balance["balance"], 5_000_000, "refused grants credited nothing");
}

async fn a_replayed_grant_credits_once(backend: Backend) {
    let w = world(backend).await;
    let (app, account) = (&w.app, w.account.as_str());
    let keyed =
        |account: &str, amount: i64| grant_request(app, &w.admin, account, amount).header("Idempotency-Key", "grant-1");

    let first: Value = keyed(account, 2_000_000).send().await.unwrap().json().await.unwrap();
    let replay = keyed(account, 2_000_000).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::CREATED);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["id"], first["id"], "the replay answers with the original entry");
    let changed = keyed(account, 3_000_000).send().await.unwrap();
    let error = error_of(changed, StatusCode::CONFLICT, "conflict").await;
    assert!(error["message"].as_str().unwrap().contains("Idempotency-Key"));
    assert_eq!(assert_books_balance(app, &w.admin, account).await["balance"], 2_000_000, "credited once");

    let elsewhere: Value = keyed(&w.other_account, 2_000_000).send().await.unwrap().json().await.unwrap();
    assert_ne!(elsewhere["id"], first["id"], "keys are per account");
    assert_eq!(assert_books_balance(app, &w.admin, &w.other_account).await["balance"], 2_000_000);
    let unkeyed = grant(app, &w.admin, account, 2_000_000).await;
    assert_ne!(unkeyed["id"], first["id"], "grants without a key are never merged");
    assert_eq!(assert_books_balance(app, &w.admin, account).await["balance"], 4_000_000);
}

async fn bad_billing_input_gets_clear_errors(backend: Backend) {
    let w = world(backend).await;
    let (app, account) = (&w.app, w.account.as_str());
    let credits = app.url(&format!("/api/v1/accounts/{account}/credits"));
    let codes = app.url("/api/v1/redemption-codes");
    let cases: Vec<(RequestBuilder, StatusCode, &str, &str)> = vec![
        (
            w.admin.post(&credits).json(&json!({"amount": 0, "note": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "amount",
        ),
        (
            w.admin.post(&credits).json(&json!({"amount": -5, "note": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "amount",
        ),
        (
            w.admin.post(&credits).json(&json!({"amount": i64::MAX, "note": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "amount",
        ),
        (
            w.admin.post(&credits).json(&json!({"amount": "1", "note": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_type",
            "amount",
        ),
        (
            w.admin.post(&credits).json(&json!({"amount": 1.5, "note": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_type",
            "amount",
        ),
        (
            w.admin.post(&credits).json(&json!({"amount": 1, "note": "  "})),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "note",
        ),
        (w.admin.post(&credits).json(&json!({"amount": 1})), StatusCode::BAD_REQUEST, "missing_field", "note"),
        (
            w.admin.post(&credits).header("Idempotency-Key", "").json(&json!({"amount": 1, "note": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "Idempotency-Key",
        ),
        (
            w.admin.post(&credits).header("Idempotency-Key", "k".repeat(300)).json(&json!({"amount": 1, "note": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "Idempotency-Key",
        ),
        (
            w.admin
                .post(&credits)
                .header("Idempotency-Key", reqwest::header::HeaderValue::from_bytes(b"caf\xe9").unwrap())
                .json(&json!({"amount": 1, "note": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "Idempotency-Key",
        ),
        (
            w.admin.post(&codes).json(&json!({"amount": 1, "count": 0})),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "count",
        ),
        (
            w.admin.post(&codes).json(&json!({"amount": 1, "count": 1001})),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "count",
        ),
        (
            w.admin.post(&codes).json(&json!({"amount": 1, "count": -1})),
            StatusCode::BAD_REQUEST,
            "invalid_type",
            "count",
        ),
        (
            w.admin.post(&codes).json(&json!({"amount": 0, "count": 1})),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "amount",
        ),
        (
            w.admin.post(&codes).json(&json!({"amount": 1, "count": 1, "expires_at": 1})),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "expires_at",
        ),
        (
            w.admin.post(&codes).json(&json!({"amount": 1, "count": 1, "x": 1})),
            StatusCode::BAD_REQUEST,
            "unknown_field",
            "x",
        ),
        (
            w.owner.post(app.url(&format!("/api/v1/accounts/{account}/redeem"))).json(&json!({"code": 42})),
            StatusCode::BAD_REQUEST,
            "invalid_type",
            "code",
        ),
    ];
    for (request, status, code, param) in cases {
        let error = error_of(request.send().await.unwrap(), status, code).await;
        assert_eq!(error["param"], param, "{error}");
    }
    let ledger = |query: &str| w.owner.get(app.url(&format!("/api/v1/accounts/{account}/ledger?{query}")));
    for (query, code, param) in [
        ("limit=0", "invalid_value", "limit"),
        ("limit=201", "invalid_value", "limit"),
        ("limit=abc", "invalid_type", "limit"),
        ("limit=-1", "invalid_type", "limit"),
        ("limit=1&page=2", "unknown_field", "page"),
    ] {
        let error = error_of(ledger(query).send().await.unwrap(), StatusCode::BAD_REQUEST, code).await;
        assert_eq!(error["param"], param, "{query}: {error}");
    }
    assert_eq!(assert_books_balance(app, &w.admin, account).await["balance"], 0, "nothing was credited");
}

async fn the_ledger_pages_newest_first(backend: Backend) {
    let w = world(backend).await;
    let (app, account) = (&w.app, w.account.as_str());
    let mut granted = Vec::new();
    for amount in 1..=5 {
        granted.push(grant(app, &w.admin, account, amount).await["id"].as_str().unwrap().to_owned());
    }
    granted.reverse();
    let first = get_json(&w.owner, app.url(&format!("/api/v1/accounts/{account}/ledger?limit=2"))).await;
    assert_eq!(first["entries"].as_array().unwrap().len(), 2);
    assert_eq!(first["next_cursor"], first["entries"][1]["id"]);
    let paged: Vec<String> = whole_ledger(app, &w.owner, account, 2)
        .await
        .iter()
        .map(|entry| entry["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paged, granted, "every entry once, newest first");
    let all = get_json(&w.owner, app.url(&format!("/api/v1/accounts/{account}/ledger"))).await;
    assert_eq!((all["entries"].as_array().unwrap().len(), all["next_cursor"].is_null()), (5, true));
    assert_eq!(assert_books_balance(app, &w.owner, account).await["balance"], 15);
}

/// Creates a batch through the API and returns its codes.
async fn create_codes(app: &TestApp, admin: &Client, body: Value) -> Vec<String> {
    let created = admin.post(app.url("/api/v1/redemption-codes")).json(&body).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["amount"], body["amount"]);
    created["codes"].as_array().unwrap().iter().map(|code| code.as_str().unwrap().to_owned()).collect()
}

fn redeem_request(app: &TestApp, client: &Client, account: &str, code: &str) -> RequestBuilder {
    client.post(app.url(&format!("/api/v1/accounts/{account}/redeem"))).json(&json!({ "code": code }))
}

async fn a_redemption_code_tops_up_once(backend: Backend) {
    let w = world(backend).await;
    let (app, account) = (&w.app, w.account.as_str());
    for refused in [&w.owner, &w.support] {
        let attempt = refused.post(app.url("/api/v1/redemption-codes")).json(&json!({"amount": 1, "count": 1}));
        error_of(attempt.send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    }
    let codes = create_codes(app, &w.admin, json!({ "amount": 2_000_000, "count": 3 })).await;
    assert_eq!(codes.len(), 3);
    assert!(codes.iter().all(|code| code.len() == "TG-XXXX-XXXX-XXXX-XXXX".len() && code.starts_with("TG-")));
    assert!(codes[0] != codes[1] && codes[1] != codes[2] && codes[0] != codes[2]);

    let redeemed = redeem_request(app, &w.owner, account, &codes[0]).send().await.unwrap();
    assert_eq!(redeemed.status(), StatusCode::CREATED);
    let entry: Value = redeemed.json().await.unwrap();
    assert_eq!((entry["kind"].as_str(), entry["amount"].as_i64()), (Some("redemption"), Some(2_000_000)));
    let hint = entry["redemption_code"].as_str().unwrap();
    assert!(hint.ends_with(&codes[0][codes[0].len() - 4..]) && hint.len() < codes[0].len(), "{hint}");

    let again = redeem_request(app, &w.owner, account, &codes[0]).send().await.unwrap();
    assert_eq!(error_of(again, StatusCode::CONFLICT, "redemption_code_used").await["param"], "code");
    let elsewhere = redeem_request(app, &w.stranger, &w.other_account, &codes[0]).send().await.unwrap();
    error_of(elsewhere, StatusCode::CONFLICT, "redemption_code_used").await;
    for unknown in ["TG-0000-0000-0000-0000", "hello"] {
        let response = redeem_request(app, &w.owner, account, unknown).send().await.unwrap();
        error_of(response, StatusCode::NOT_FOUND, "unknown_redemption_code").await;
    }
    for refused in [&w.member, &w.support] {
        let response = redeem_request(app, refused, account, &codes[1]).send().await.unwrap();
        error_of(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let stranger = redeem_request(app, &w.stranger, account, &codes[1]).send().await.unwrap();
    error_of(stranger, StatusCode::NOT_FOUND, "not_found").await;

    let typed_loosely = codes[1].to_lowercase().replace('-', " ");
    let by_admin = redeem_request(app, &w.admin, account, &typed_loosely).send().await.unwrap();
    assert_eq!(by_admin.status(), StatusCode::CREATED, "admins redeem too; case and dashes do not matter");
    assert_eq!(assert_books_balance(app, &w.owner, account).await["balance"], 4_000_000);
    assert_eq!(assert_books_balance(app, &w.admin, &w.other_account).await["balance"], 0);
    let bodies: Vec<String> = codes.iter().map(|code| code[3..].replace('-', "")).collect();
    let stored = stored_code_columns(app).await;
    assert!(!stored.iter().any(|column| bodies.iter().any(|body| column.contains(body))), "codes are stored hashed");
}

/// Every text column of `redemption_codes`, to check that no code is stored in clear.
async fn stored_code_columns(app: &TestApp) -> Vec<String> {
    let db = app::db::Db::connect(&app.database.url, 1).await.unwrap();
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT code_hash, code_hint, redeemed_by FROM redemption_codes")
            .fetch_all(db.pool())
            .await
            .unwrap();
    rows.into_iter().flat_map(|(hash, hint, redeemed_by)| [hash, hint, redeemed_by.unwrap_or_default()]).collect()
}

async fn an_expired_code_is_refused(backend: Backend) {
    let w = world(backend).await;
    let (app, account) = (&w.app, w.account.as_str());
    let soon = app::clock::now_ms() + 1_000;
    let codes = create_codes(app, &w.admin, json!({ "amount": 1_000_000, "count": 1, "expires_at": soon })).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let expired = redeem_request(app, &w.owner, account, &codes[0]).send().await.unwrap();
    assert_eq!(error_of(expired, StatusCode::GONE, "redemption_code_expired").await["param"], "code");
    assert_eq!(assert_books_balance(app, &w.owner, account).await["balance"], 0);
}

async fn concurrent_redemptions_of_one_code_credit_once(backend: Backend) {
    let w = world(backend).await;
    let (app, account) = (&w.app, w.account.as_str());
    let code = create_codes(app, &w.admin, json!({ "amount": 7_000_000, "count": 1 })).await.remove(0);
    let attempts: Vec<_> =
        (0..20).map(|_| tokio::spawn(redeem_request(app, &w.owner, account, &code).send())).collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap().unwrap().status());
    }
    let created = statuses.iter().filter(|status| **status == StatusCode::CREATED).count();
    let used = statuses.iter().filter(|status| **status == StatusCode::CONFLICT).count();
    assert_eq!((created, used), (1, 19), "{statuses:?}");
    assert_eq!(assert_books_balance(app, &w.owner, account).await["balance"], 7_000_000);
}

async fn new_accounts_get_the_configured_trial_credit(backend: Backend) {
    let w = world_of(spawn_app_with(backend, |config| config.trial_credit = 3_000_000).await).await;
    let (app, account) = (&w.app, w.account.as_str());
    let created = w.admin.post(app.url("/api/v1/accounts")).json(&json!({ "name": "Newcomer" })).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["balance"], 3_000_000, "the created account shows its trial credit");
    let newcomer = created["id"].as_str().unwrap();
    let ledger = whole_ledger(app, &w.admin, newcomer, 200).await;
    assert_eq!(ledger.len(), 1);
    assert_eq!((ledger[0]["kind"].as_str(), ledger[0]["amount"].as_i64()), (Some("trial"), Some(3_000_000)));
    assert_eq!(assert_books_balance(app, &w.admin, newcomer).await["balance"], 3_000_000);
    assert_eq!(assert_books_balance(app, &w.owner, account).await["balance"], 3_000_000);
}

on_both_backends!(
    admins_grant_and_owners_and_support_read,
    a_replayed_grant_credits_once,
    bad_billing_input_gets_clear_errors,
    the_ledger_pages_newest_first,
    a_redemption_code_tops_up_once,
    an_expired_code_is_refused,
    concurrent_redemptions_of_one_code_credit_once,
    new_accounts_get_the_configured_trial_credit,
);
