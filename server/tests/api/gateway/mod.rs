//! The data plane over real HTTP: the gateway on a random port, a mock upstream on
//! another, keys, models and channels created through the management API.

mod billing;
mod channel_test;
mod complexity;
mod contract;
mod dialects;
mod hardening;
mod ip_allowlist;
mod limits;
mod malformed;
mod mock_upstream;
mod overload;
mod routing;
mod shutdown;
mod streaming;

use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp};
use mock_upstream::{MockUpstream, UPSTREAM_SECRET};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// What a test account starts with: far more than any test spends.
pub const FUNDS: i64 = 1_000_000 * 1_000_000;

pub struct World {
    pub app: TestApp,
    pub admin: Client,
    pub account: String,
    pub upstream: MockUpstream,
    pub client: Client,
}

impl World {
    pub async fn new(backend: Backend) -> World {
        World::from_app(spawn_app(backend).await).await
    }

    pub async fn with_config(backend: Backend, configure: impl FnOnce(&mut server::config::Config)) -> World {
        World::from_app(spawn_app_with(backend, configure).await).await
    }

    async fn from_app(app: TestApp) -> World {
        let admin = app.admin().await;
        let me: Value = admin.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        let account = me["accounts"][0]["account_id"].as_str().unwrap().to_owned();
        let world = World { app, admin, account, upstream: MockUpstream::start().await, client: Client::new() };
        world.set_balance(FUNDS).await;
        world
    }

    /// Grants credit until the account holds `target` micro-units.
    pub async fn set_balance(&self, target: i64) {
        let balance = self.balance().await;
        let missing = target - balance["balance"].as_i64().unwrap();
        if missing > 0 {
            let url = self.app.url(&format!("/api/v1/accounts/{}/credits", self.account));
            let granted =
                self.admin.post(url).json(&json!({"amount": missing, "note": "test funds"})).send().await.unwrap();
            assert_eq!(granted.status(), StatusCode::CREATED, "{}", granted.text().await.unwrap());
        }
    }

    pub async fn admin_id(&self) -> String {
        let me: Value = self.admin.get(self.app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        me["user"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn balance(&self) -> Value {
        self.balance_of(&self.account).await
    }

    pub async fn balance_of(&self, account: &str) -> Value {
        let url = self.app.url(&format!("/api/v1/accounts/{account}/balance"));
        self.admin.get(url).send().await.unwrap().json().await.unwrap()
    }

    /// The balance once every charge is written and every lease given back (charges are
    /// written in batches; an idle lease goes back after a couple of seconds).
    pub async fn settled_balance(&self, account: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let balance = self.balance_of(account).await;
            if balance["reserved"] == 0 {
                return balance;
            }
            assert!(Instant::now() < deadline, "money still held: {balance}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates a key with `policy` on the demo account (in force once created).
    pub async fn key(&self, policy: Value) -> String {
        let mut body = json!({"name": "test key"});
        body.as_object_mut().unwrap().extend(policy.as_object().cloned().unwrap_or_default());
        let created = self
            .admin
            .post(self.app.url(&format!("/api/v1/accounts/{}/keys", self.account)))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text().await.unwrap());
        let created: Value = created.json().await.unwrap();
        created["secret"].as_str().unwrap().to_owned()
    }

    pub async fn key_id(&self, secret: &str) -> String {
        let keys: Vec<Value> = self
            .admin
            .get(self.app.url(&format!("/api/v1/accounts/{}/keys", self.account)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let prefix = secret.rsplit_once('-').unwrap().0;
        keys.iter().find(|k| k["prefix"] == prefix).unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// A channel to the mock upstream's `behaviour`, serving `models`.
    pub async fn channel(&self, name: &str, protocol: &str, behaviour: &str, priority: i64, timeout_ms: i64) -> String {
        let body = json!({"name": name, "protocol": protocol, "base_url": self.upstream.url(behaviour),
            "credential": UPSTREAM_SECRET, "priority": priority, "timeout_ms": timeout_ms});
        let created = self.admin.post(self.app.url("/api/v1/channels")).json(&body).send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text().await.unwrap());
        created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// A model served by `channels` (in the given order of creation), with prices.
    pub async fn model(&self, code: &str, channels: &[(&str, Option<&str>)]) {
        let channels: Vec<Value> =
            channels.iter().map(|(id, upstream)| json!({"channel_id": id, "upstream_model": upstream})).collect();
        let body = json!({"code": code, "name": code, "input_price": 1_000_000, "output_price": 2_000_000,
            "context_window": 8192, "default_max_tokens": 256, "channels": channels});
        let created = self.admin.post(self.app.url("/api/v1/models")).json(&body).send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text().await.unwrap());
    }

    pub async fn models(&self, key: &str) -> Response {
        self.client.get(self.app.url("/v1/models")).bearer_auth(key).send().await.unwrap()
    }

    pub async fn chat(&self, key: &str, body: Value) -> Response {
        self.client.post(self.app.url("/v1/chat/completions")).bearer_auth(key).json(&body).send().await.unwrap()
    }

    pub async fn messages(&self, key: &str, body: Value) -> Response {
        self.client.post(self.app.url("/v1/messages")).header("x-api-key", key).json(&body).send().await.unwrap()
    }

    /// The usage row of `request_id`, once the batch writer has stored it.
    pub async fn usage_row(&self, request_id: &str) -> Value {
        let url = self.app.url(&format!("/api/v1/usage/{request_id}"));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let response = self.admin.get(&url).send().await.unwrap();
            if response.status() == StatusCode::OK {
                return response.json().await.unwrap();
            }
            assert!(Instant::now() < deadline, "no usage row for {request_id}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls `check` for up to a second: the contract's bound for changes to take effect.
    pub async fn eventually<F, Fut>(&self, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(1);
        while !check().await {
            assert!(Instant::now() < deadline, "the change did not take effect within one second");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

pub fn request_id(response: &Response) -> String {
    response.headers()["x-request-id"].to_str().unwrap().to_owned()
}

pub fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello gateway world"}]})
}

/// Asserts the contract's error: status, body fields, headers; returns the error object.
pub async fn gateway_error(response: Response, status: u16, code: &str, layer: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status for {code}");
    let source = response.headers().get("x-tollgate-error-source").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let id = request_id(&response);
    let body: Value = response.json().await.unwrap();
    // Both dialects put the fields under `error`.
    let error = body["error"].clone();
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["layer"], layer, "{body}");
    assert_eq!(error["request_id"], id.as_str(), "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    let expected_source = if layer == "upstream" && !["upstream_failed", "upstream_timeout"].contains(&code) {
        "upstream"
    } else {
        "gateway"
    };
    assert_eq!(source.as_deref(), Some(expected_source), "{body}");
    error
}
