//! Money through the gateway: the quota layer, exact charges, concurrency, crashes.
//! Model prices here: 1,000,000 in / 2,000,000 out micro-units per million tokens.

use super::{gateway_error, hello, request_id, World};
use crate::helpers::{Backend, ServerProcess, TestDatabase, ADMIN_PASSWORD};
use crate::on_both_backends;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const SERVER_ENV: &[(&str, &str)] = &[("TOLLGATE_ADMIN_PASSWORD", ADMIN_PASSWORD), ("TOLLGATE_SEED_DEMO", "true")];

/// What the mock's `ok` answer (11 prompt, 7 completion tokens) costs.
const OK_COST: i64 = 11 + 14;

async fn ledger_sum(w: &World, account: &str) -> i64 {
    let mut sum = 0;
    let mut cursor = String::new();
    loop {
        let url = w.app.url(&format!("/api/v1/accounts/{account}/ledger?limit=200&cursor={cursor}"));
        let page: Value = w.admin.get(url).send().await.unwrap().json().await.unwrap();
        sum += page["entries"].as_array().unwrap().iter().map(|e| e["amount"].as_i64().unwrap()).sum::<i64>();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return sum,
        }
    }
}

async fn usage_entries_for(w: &World, account: &str, request_id: &str) -> Vec<Value> {
    let url = w.app.url(&format!("/api/v1/accounts/{account}/ledger?limit=200"));
    let page: Value = w.admin.get(url).send().await.unwrap().json().await.unwrap();
    page["entries"].as_array().unwrap().iter().filter(|e| e["request_id"] == request_id).cloned().collect()
}

/// Waits until every charge is written and no money is held; checks balance == sum(ledger).
async fn assert_books_balance(w: &World, account: &str) -> i64 {
    let balance = w.settled_balance(account).await["balance"].as_i64().unwrap();
    assert_eq!(balance, ledger_sum(w, account).await, "balance == sum(ledger)");
    balance
}

/// An account with its own key and exactly `funds`, owned by the admin.
async fn poor_account(w: &World, name: &str, funds: i64) -> (String, String) {
    let admin_id = w.admin.get(w.app.url("/api/v1/me")).send().await.unwrap().json::<Value>().await.unwrap()["user"]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = w.app.account(&w.admin, name, &admin_id).await;
    if funds > 0 {
        let url = w.app.url(&format!("/api/v1/accounts/{account}/credits"));
        let granted = w.admin.post(url).json(&json!({"amount": funds, "note": "exact funds"})).send().await.unwrap();
        assert_eq!(granted.status(), StatusCode::CREATED);
    }
    let created: Value = w
        .admin
        .post(w.app.url(&format!("/api/v1/accounts/{account}/keys")))
        .json(&json!({"name": "poor"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (account, created["secret"].as_str().unwrap().to_owned())
}

/// What the audit log says the account's keys were charged for usage, through the audit
/// API: (the amounts' sum, the number of charges, each row's key and actor).
async fn audited_usage(w: &World, account: &str) -> (i64, i64, Vec<(String, String)>) {
    let url = w.app.url(&format!("/api/v1/audit?action=billing.usage&account={account}&limit=200"));
    let page: Value = w.admin.get(url).send().await.unwrap().json().await.unwrap();
    let rows = page["entries"].as_array().unwrap();
    let amount = rows.iter().map(|row| row["after"]["amount"].as_i64().unwrap()).sum();
    let charges = rows.iter().map(|row| row["after"]["charges"].as_i64().unwrap()).sum();
    let who = rows
        .iter()
        .map(|row| (row["target_id"].as_str().unwrap().to_owned(), row["actor_id"].as_str().unwrap().to_owned()))
        .collect();
    (amount, charges, who)
}

async fn rows_18_19_spend_cap_and_balance(backend: Backend) {
    let w = World::new(backend).await;
    let capped = w.key(json!({"spend_cap": 10})).await;
    let error = gateway_error(w.chat(&capped, hello("echo-1")).await, 429, "key_quota_exhausted", "quota").await;
    assert_eq!(error["type"], "quota_error");

    let (account, broke) = poor_account(&w, "Broke", 0).await;
    let error = gateway_error(w.chat(&broke, hello("echo-1")).await, 402, "insufficient_balance", "quota").await;
    assert_eq!(error["type"], "billing_error");
    assert_books_balance(&w, &account).await;
}

async fn charges_exactly_what_was_used_once(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w.channel("priced", "openai", "ok", 0, 2000).await;
    w.model("priced", &[(&channel, None)]).await;
    let key = w.key(json!({})).await;
    let before = w.balance().await["balance"].as_i64().unwrap();
    let response = w.chat(&key, hello("priced")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = request_id(&response);
    assert_eq!(w.usage_row(&id).await["cost"], OK_COST);
    assert_eq!(assert_books_balance(&w, &w.account).await, before - OK_COST);
    let entries = usage_entries_for(&w, &w.account, &id).await;
    assert_eq!(entries.len(), 1, "one charge");
    assert_eq!(entries[0]["amount"], -OK_COST);

    let key_id = w.usage_row(&id).await["key_id"].as_str().unwrap().to_owned();
    let audited = (-OK_COST, 1, vec![(key_id, w.admin_id().await)]);
    assert_eq!(audited_usage(&w, &w.account).await, audited, "the key's owner spent it");

    let failed = w.chat(&key, hello("no-such-model")).await;
    let failed_id = request_id(&failed);
    assert_eq!(failed.status(), StatusCode::NOT_FOUND);
    assert_eq!(w.usage_row(&failed_id).await["cost"], 0, "refused requests cost nothing");
    assert_eq!(assert_books_balance(&w, &w.account).await, before - OK_COST);
    assert_eq!(audited_usage(&w, &w.account).await, audited, "nothing charged, nothing audited");
}

async fn streams_are_charged_from_usage_or_counted_tokens_and_on_disconnect(backend: Backend) {
    let w = World::new(backend).await;
    let reported = w.channel("reported", "openai", "stream", 0, 5000).await;
    let counted = w.channel("counted", "openai", "stream-no-usage", 0, 5000).await;
    let long = w.channel("long", "openai", "stream-slow", 0, 10_000).await;
    w.model("reported", &[(&reported, None)]).await;
    w.model("counted", &[(&counted, None)]).await;
    w.model("long", &[(&long, None)]).await;
    let key = w.key(json!({})).await;
    let stream =
        |model: &str| json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "go on"}]});

    let response = w.chat(&key, stream("reported")).await;
    let id = request_id(&response);
    response.text().await.unwrap();
    assert_eq!(w.usage_row(&id).await["cost"], 21 + 8, "21 prompt and 4 completion tokens as reported");

    let response = w.chat(&key, stream("counted")).await;
    let id = request_id(&response);
    response.text().await.unwrap();
    let row = w.usage_row(&id).await;
    assert!(row["cost"].as_i64().unwrap() > 0, "a stream that produced tokens is never free: {row}");

    let response = w.chat(&key, stream("long")).await;
    let id = request_id(&response);
    let mut body = response.bytes_stream();
    for _ in 0..5 {
        body.next().await.unwrap().unwrap();
    }
    drop(body);
    let row = w.usage_row(&id).await;
    assert_eq!(row["error_code"], "client_closed");
    let delivered = row["completion_tokens"].as_i64().unwrap();
    assert!(delivered > 0);
    assert_books_balance(&w, &w.account).await;
    let entries = usage_entries_for(&w, &w.account, &id).await;
    assert_eq!(entries.len(), 1, "charged once");
    assert_eq!(entries[0]["amount"].as_i64().unwrap(), -row["cost"].as_i64().unwrap());
    assert!(row["cost"].as_i64().unwrap() > 0);
}

/// The hold of `body` for `key`'s account, read from the refusal of an account without money.
async fn hold_of(w: &World, poor_key: &str, body: Value) -> i64 {
    let refusal = gateway_error(w.chat(poor_key, body).await, 402, "insufficient_balance", "quota").await;
    let message = refusal["message"].as_str().unwrap().to_owned();
    message.split("up to ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap().parse().unwrap()
}

/// A request is charged at most its hold, whatever the upstream reports or the echo
/// provider is asked to repeat: balances and spend caps cannot be overrun.
async fn no_request_is_charged_beyond_its_hold(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w.channel("greedy", "openai", "greedy", 0, 2_000).await;
    w.model("greedy", &[(&channel, None)]).await;
    let (_, empty_key) = poor_account(&w, "Empty", 0).await;
    let greedy = json!({"model": "greedy", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let greedy_hold = hold_of(&w, &empty_key, greedy.clone()).await;
    let (account, key) = poor_account(&w, "Exact", greedy_hold).await;
    let response = w.chat(&key, greedy.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let row = w.usage_row(&request_id(&response)).await;
    assert_eq!(row["cost"], greedy_hold, "charged the hold, not the reported 1,000,000 tokens: {row}");
    assert_eq!(row["overrun"], 11 + 2_000_000 - greedy_hold, "{row}");
    assert_eq!(assert_books_balance(&w, &account).await, 0, "never below zero");

    // A 4,000-word prompt answered in one word: echo honours max_tokens.
    let words = "word ".repeat(4_000);
    let echo = json!({"model": "echo-1", "max_tokens": 1, "messages": [{"role": "user", "content": words}]});
    let hold = hold_of(&w, &empty_key, echo.clone()).await;
    let (account, key) = poor_account(&w, "Echoed", hold).await;
    let response = w.chat(&key, echo).await;
    let id = request_id(&response);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["choices"][0]["finish_reason"], "length");
    let row = w.usage_row(&id).await;
    assert_eq!((row["completion_tokens"].as_i64(), row["overrun"].as_i64()), (Some(1), Some(0)), "{row}");
    assert!(row["cost"].as_i64().unwrap() <= hold);
    assert!(assert_books_balance(&w, &account).await >= 0);

    // A key's spend cap holds the same way: spent up to the cap, then refused.
    let capped = w.key(json!({"spend_cap": greedy_hold})).await;
    assert_eq!(w.chat(&capped, greedy.clone()).await.status(), StatusCode::OK);
    gateway_error(w.chat(&capped, greedy).await, 429, "key_quota_exhausted", "quota").await;
    w.settled_balance(&w.account).await;
    let url = w.app.url(&format!("/api/v1/keys/{}", w.key_id(&capped).await));
    let key: Value = w.admin.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(key["spent"], greedy_hold, "{key}");
}

/// Several answers at once are held for, each at the whole output cap.
async fn every_choice_is_held_for(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w.channel("plain", "openai", "ok", 0, 2_000).await;
    w.model("plain", &[(&channel, None)]).await;
    let (_, empty_key) = poor_account(&w, "Empty", 0).await;
    let body =
        |n: u64| json!({"model": "plain", "n": n, "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    let (one, many) = (hold_of(&w, &empty_key, body(1)).await, hold_of(&w, &empty_key, body(128)).await);
    // 127 more answers of 100 tokens at 2 micro-units each, and two more bytes of prompt.
    assert_eq!(many - one, 127 * 100 * 2 + 2);
}

async fn concurrent_requests_never_overdraw(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w.channel("slowpoke", "openai", "ok-slow", 0, 10_000).await;
    w.model("slowpoke", &[(&channel, None)]).await;

    // Learn one request's worst case from the refusal of an account that has nothing.
    let (account, poor_key) = poor_account(&w, "Tight", 0).await;
    let refusal = gateway_error(w.chat(&poor_key, hello("slowpoke")).await, 402, "insufficient_balance", "quota").await;
    let message = refusal["message"].as_str().unwrap();
    let reservation: i64 =
        message.split("up to ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap().parse().unwrap();

    const AFFORDABLE: i64 = 10;
    let funds = AFFORDABLE * reservation + reservation / 2;
    let url = w.app.url(&format!("/api/v1/accounts/{account}/credits"));
    let granted = w.admin.post(url).json(&json!({"amount": funds, "note": "exact funds"})).send().await.unwrap();
    assert_eq!(granted.status(), StatusCode::CREATED);
    let requests = (0..64).map(|_| {
        let (client, url, key) = (w.client.clone(), w.app.url("/v1/chat/completions"), poor_key.clone());
        tokio::spawn(async move {
            client.post(url).bearer_auth(key).json(&hello("slowpoke")).send().await.unwrap().status()
        })
    });
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(requests).await.into_iter().map(Result::unwrap).collect();
    let succeeded = statuses.iter().filter(|s| **s == StatusCode::OK).count() as i64;
    let refused = statuses.iter().filter(|s| **s == StatusCode::PAYMENT_REQUIRED).count() as i64;
    assert_eq!((succeeded, refused), (AFFORDABLE, 64 - AFFORDABLE), "{statuses:?}");

    assert_eq!(assert_books_balance(&w, &account).await, funds - AFFORDABLE * OK_COST, "initial - sum(charges)");
}

on_both_backends!(
    no_request_is_charged_beyond_its_hold,
    every_choice_is_held_for,
    rows_18_19_spend_cap_and_balance,
    charges_exactly_what_was_used_once,
    streams_are_charged_from_usage_or_counted_tokens_and_on_disconnect,
    concurrent_requests_never_overdraw,
);

/// Row 26: anything else, here the database gone mid-flight, is a clean 500.
#[tokio::test]
async fn row_26_internal_error_when_the_database_is_gone() {
    use sqlx::{Connection, Executor};
    let w = World::new(Backend::Postgres).await;
    let key = w.key(json!({})).await;
    let name = w.app.database.url.rsplit('/').next().unwrap().to_owned();
    let mut conn = sqlx::PgConnection::connect(&w.app.database.url.replace(&name, "postgres")).await.unwrap();
    conn.execute(format!(r#"ALTER DATABASE "{name}" ALLOW_CONNECTIONS false"#).as_str()).await.unwrap();
    conn.execute(format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'").as_str())
        .await
        .unwrap();
    let error = gateway_error(w.chat(&key, hello("echo-1")).await, 500, "internal_error", "internal").await;
    assert_eq!(error["type"], "api_error");
    assert!(!error["message"].as_str().unwrap().to_lowercase().contains("postgres"), "causes are logged, not sent");
}

/// SIGKILL while requests hold money: the next start gives the instance's leases back.
#[tokio::test]
async fn a_crash_leaves_no_reservation_open_after_restart() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let upstream = super::mock_upstream::MockUpstream::start().await;
    let first = ServerProcess::start(&database, SERVER_ENV);
    let base = first.base.clone();
    let (admin, account) = first.admin().await;
    let channel: Value = admin
        .post(format!("{base}/api/v1/channels"))
        .json(&json!({"name": "slow", "protocol": "openai", "base_url": upstream.url("ok-slow"), "credential": super::mock_upstream::UPSTREAM_SECRET}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let model = json!({"code": "slow", "name": "slow", "input_price": 1_000_000, "output_price": 2_000_000, "context_window": 8192,
        "channels": [{"channel_id": channel["id"]}]});
    assert_eq!(
        admin.post(format!("{base}/api/v1/models")).json(&model).send().await.unwrap().status(),
        StatusCode::CREATED
    );
    let key = first.key(&admin, &account).await;

    for _ in 0..5 {
        let (url, key) = (format!("{base}/v1/chat/completions"), key.clone());
        tokio::spawn(
            async move { reqwest::Client::new().post(url).bearer_auth(key).json(&hello("slow")).send().await },
        );
    }
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&database.url).await.unwrap();
    let mut leased = 0;
    while leased == 0 {
        leased = sqlx::query_scalar::<_, i64>("SELECT COALESCE(SUM(amount), 0) FROM leases")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The slow upstream keeps all five in flight for seconds: let them all hold first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill();

    let second = ServerProcess::start(&database, SERVER_ENV);
    let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leases").fetch_one(&mut conn).await.unwrap();
    let (balance, reserved): (i64, i64) = sqlx::query_as("SELECT balance, reserved FROM accounts WHERE id = $1")
        .bind(&account)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let ledger: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE account_id = $1")
        .bind(&account)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!((open, reserved), (0, 0), "every lease given back at start");
    assert_eq!(balance, ledger, "balance == sum(ledger)");
    assert!(second.terminate().await.success());
}
