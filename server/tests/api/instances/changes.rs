//! A change made through one instance is enforced by the others within 100 ms
//! (PostgreSQL's LISTEN/NOTIFY; SQLite serves one instance). The other instance's periodic
//! reload is set far beyond the test, so only the notification can explain the refusal.

use super::clustered;
use crate::helpers::{spawn_app_with, spawn_peer, Backend, Peer, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use server::config::Config;
use std::future::Future;
use std::time::{Duration, Instant};

const WITHIN: Duration = Duration::from_millis(100);

fn no_periodic_reload(config: &mut Config) {
    clustered(config);
    config.catalog_refresh_ms = 600_000;
}

struct Pair {
    first: TestApp,
    second: Peer,
    admin: Client,
    account: String,
}

async fn pair() -> Pair {
    let first = spawn_app_with(Backend::Postgres, no_periodic_reload).await;
    let second = spawn_peer(&first, no_periodic_reload).await;
    let admin = first.admin().await;
    let me: Value = admin.get(first.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    let account = me["accounts"][0]["account_id"].as_str().unwrap().to_owned();
    Pair { first, second, admin, account }
}

impl Pair {
    /// A key created on the first instance, once the second accepts it too; its id and secret.
    async fn key(&self) -> (String, String) {
        let url = self.first.url(&format!("/api/v1/accounts/{}/keys", self.account));
        let created: Value =
            self.admin.post(url).json(&json!({"name": "shared"})).send().await.unwrap().json().await.unwrap();
        let (id, secret) = (created["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned());
        let accepted = first_time(self.polling(&secret, |status, _| status == StatusCode::OK));
        tokio::time::timeout(Duration::from_secs(5), accepted).await.expect("the second instance loads a new key");
        (id, secret)
    }

    /// Makes `change` through the first instance while `enforced` is polled (on the second)
    /// as fast as it answers; returns how long after the first instance answered the second
    /// enforced the change (zero when it already did).
    async fn enforced_after<F, Fut>(&self, change: reqwest::RequestBuilder, enforced: F) -> Duration
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        let watcher = tokio::spawn(first_time(enforced));
        let answer = change.send().await.unwrap();
        let answered = Instant::now();
        assert_eq!(answer.status(), StatusCode::OK, "{}", answer.text().await.unwrap());
        let seen = tokio::time::timeout(Duration::from_secs(5), watcher)
            .await
            .expect("the second instance enforces the change at all")
            .unwrap();
        seen.saturating_duration_since(answered)
    }

    /// A poll of the second instance's `/v1/models` with the key: `judge` says from its
    /// status and body whether the change is enforced.
    fn polling(
        &self,
        secret: &str,
        judge: fn(StatusCode, &Value) -> bool,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = bool> + Send>> + Send + 'static {
        let (client, url, secret) = (Client::new(), self.second.url("/v1/models"), secret.to_owned());
        move || {
            let request = client.get(&url).bearer_auth(&secret);
            Box::pin(async move {
                let response = request.send().await.unwrap();
                let status = response.status();
                judge(status, &response.json().await.unwrap())
            })
        }
    }
}

/// When `check` first holds, polling it back to back.
async fn first_time<F, Fut>(check: F) -> Instant
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    while !check().await {}
    Instant::now()
}

fn revoked(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::UNAUTHORIZED && body["error"]["code"] == "api_key_revoked"
}

fn disabled(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::UNAUTHORIZED && body["error"]["code"] == "api_key_disabled"
}

fn no_model_listed(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::OK && body["data"].as_array().is_some_and(Vec::is_empty)
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_the_other_instance_within_100_ms() {
    let p = pair().await;
    let (id, secret) = p.key().await;
    let revoke = p.admin.post(p.first.url(&format!("/api/v1/keys/{id}/revoke")));
    let after = p.enforced_after(revoke, p.polling(&secret, revoked)).await;
    assert!(after < WITHIN, "the second instance refused the revoked key {after:?} after the first answered");
}

#[tokio::test]
async fn a_disabled_model_is_refused_by_the_other_instance_within_100_ms() {
    let p = pair().await;
    let (_, secret) = p.key().await;
    let disable = p.admin.patch(p.first.url("/api/v1/models/echo-1")).json(&json!({"status": "disabled"}));
    let after = p.enforced_after(disable, p.polling(&secret, no_model_listed)).await;
    assert!(after < WITHIN, "the second instance still listed the disabled model {after:?} after the first answered");
    let chat = json!({"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]});
    let refused =
        Client::new().post(p.second.url("/v1/chat/completions")).bearer_auth(&secret).json(&chat).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "model_disabled");
}

/// The listening connection is cut (a database restart, a proxy's idle timeout): the
/// instance listens again, and changes reach it as fast as before.
#[tokio::test]
async fn changes_reach_an_instance_whose_listening_connection_was_cut() {
    use sqlx::{Connection, Executor};
    let p = pair().await;
    let (id, secret) = p.key().await;
    let name = p.first.database.url.rsplit('/').next().unwrap().to_owned();
    let mut conn = sqlx::PgConnection::connect(&p.first.database.url).await.unwrap();
    let listening = format!("SELECT pid FROM pg_stat_activity WHERE datname = '{name}' AND query LIKE 'LISTEN%'");
    let before: Vec<i32> = sqlx::query_scalar(&listening).fetch_all(&mut conn).await.unwrap();
    assert_eq!(before.len(), 2, "each instance listens");
    conn.execute(format!("SELECT pg_terminate_backend(pid) FROM ({listening}) AS listeners").as_str()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now: Vec<i32> = sqlx::query_scalar(&listening).fetch_all(&mut conn).await.unwrap();
        if now.len() == 2 && now.iter().all(|pid| !before.contains(pid)) {
            break;
        }
        assert!(Instant::now() < deadline, "the instances never listened again: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let disable = p.admin.patch(p.first.url(&format!("/api/v1/keys/{id}"))).json(&json!({"status": "disabled"}));
    let after = p.enforced_after(disable, p.polling(&secret, disabled)).await;
    assert!(after < WITHIN, "the second instance refused the disabled key {after:?} after the first answered");
}
