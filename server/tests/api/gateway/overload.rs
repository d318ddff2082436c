//! Back-pressure: while the database cannot keep up, new requests are refused with 503
//! `overloaded` once the usage rows or charges waiting for it reach the limit, and every
//! request answered before keeps its usage row and its charge.

use super::{gateway_error, hello, request_id, World};
use crate::helpers::Backend;
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{AnyConnection, Connection};
use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

const LIMIT: usize = 3;

/// The database's writers locked out, as by a long transaction elsewhere: SQLite's one
/// write lock, or on PostgreSQL the tables the usage and charge writers write to.
struct WriteLock(AnyConnection);

impl WriteLock {
    async fn take(url: &str, backend: Backend) -> WriteLock {
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(url).await.unwrap();
        let lock = match backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN; LOCK TABLE usage_logs, ledger_entries IN ACCESS EXCLUSIVE MODE",
        };
        sqlx::raw_sql(lock).execute(&mut conn).await.unwrap();
        WriteLock(conn)
    }

    async fn release(mut self) {
        sqlx::raw_sql("ROLLBACK").execute(&mut self.0).await.unwrap();
        self.0.close().await.unwrap();
    }
}

/// The request ids of the account's written charges.
async fn charged(w: &World) -> BTreeSet<String> {
    let url = w.app.url(&format!("/api/v1/accounts/{}/ledger?limit=200", w.account));
    let page: Value = w.admin.get(url).send().await.unwrap().json().await.unwrap();
    let entries = page["entries"].as_array().unwrap().iter().filter(|entry| entry["kind"] == "usage");
    entries.filter_map(|entry| entry["request_id"].as_str().map(str::to_owned)).collect()
}

/// The request ids of the key's usage rows.
async fn logged(w: &World, key_id: &str) -> BTreeSet<String> {
    let url = w.app.url(&format!("/api/v1/accounts/{}/usage?key={key_id}&limit=200", w.account));
    let page: Value = w.admin.get(url).send().await.unwrap().json().await.unwrap();
    page["rows"].as_array().unwrap().iter().map(|row| row["request_id"].as_str().unwrap().to_owned()).collect()
}

/// Polls until `check` holds, for at most fifteen seconds (SQLite's writers wait up to five
/// for the lock before they retry).
async fn written<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} never written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_stalled_database_sheds_new_requests_and_loses_nothing_answered(backend: Backend) {
    let w = World::with_config(backend, |config| config.write_queue_limit = NonZeroUsize::new(LIMIT).unwrap()).await;
    let key = w.key(json!({})).await;
    let key_id = w.key_id(&key).await;
    // The first request takes the key's lease of money (a write) and has its row and charge
    // written: from here on, requests need the database only for what they leave behind.
    let first = w.chat(&key, hello("echo-1")).await;
    assert_eq!(first.status(), StatusCode::OK);
    let mut answered = BTreeSet::from([request_id(&first)]);
    written("the first charge", || async { charged(&w).await == answered }).await;
    written("the first usage row", || async { logged(&w, &key_id).await == answered }).await;

    let lock = WriteLock::take(&w.app.database.url, backend).await;
    for sent in 0..LIMIT + 3 {
        let response = w.chat(&key, hello("echo-1")).await;
        if sent < LIMIT {
            assert_eq!(response.status(), StatusCode::OK, "request {sent} fits in the queues");
            answered.insert(request_id(&response));
            continue;
        }
        assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        let error = gateway_error(response, 503, "overloaded", "internal").await;
        assert_eq!(error["type"], "api_error");
    }
    let metrics = w.client.get(w.app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(&format!("\ntollgate_usage_queue_rows {LIMIT}\n")), "{metrics}");
    assert!(metrics.contains(&format!("\ntollgate_charge_queue_rows {LIMIT}\n")), "{metrics}");
    lock.release().await;

    written("every answered request's charge", || async { charged(&w).await == answered }).await;
    written("every answered request's usage row", || async { logged(&w, &key_id).await == answered }).await;
    assert_eq!(logged(&w, &key_id).await.len(), LIMIT + 1, "one row per answer; the refused left none");
    let again = w.chat(&key, hello("echo-1")).await;
    assert_eq!(again.status(), StatusCode::OK, "with the queues drained, requests are admitted again");
}

on_both_backends!(a_stalled_database_sheds_new_requests_and_loses_nothing_answered);
