//! A key's RPM, TPM and concurrency: taken all or nothing, shown in `x-ratelimit-*`,
//! shared by instances through Redis, and what happens when Redis is not there.

use super::{gateway_error, hello, World};
use crate::helpers::{spawn_beside, Backend, TestApp, ADMIN_EMAIL};
use crate::on_both_backends;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use server::config::Config;
use std::time::{Duration, Instant};

/// About 300 prompt tokens: with `max_tokens` 400 it uses well over half of a 1,000 TPM.
fn long_prompt() -> Value {
    json!({"model": "echo-1", "max_tokens": 400, "messages": [{"role": "user", "content": "word ".repeat(300)}]})
}

fn small_prompt() -> Value {
    json!({"model": "echo-1", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|value| value.to_str().unwrap())
}

async fn a_refusal_by_one_limit_takes_nothing_from_the_others(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({"rpm": 2, "tpm": 1000})).await;
    let first = w.chat(&key, long_prompt()).await;
    assert_eq!(first.status(), StatusCode::OK);
    let used = first.json::<Value>().await.unwrap()["usage"]["total_tokens"].as_u64().unwrap();
    assert!((300..900).contains(&used), "the long prompt used {used} tokens");

    let refused = w.chat(&key, long_prompt()).await;
    assert_eq!(header(&refused, "x-ratelimit-remaining-tokens"), Some("0"));
    let error = gateway_error(refused, 429, "rate_limit_exceeded", "rate_limit").await;
    assert!(error["message"].as_str().unwrap().contains("tokens-per-minute limit of 1000"), "{error}");

    // The refused request took no request from the RPM: one is left, for the small one.
    let small = w.chat(&key, small_prompt()).await;
    assert_eq!(small.status(), StatusCode::OK);
    assert_eq!(header(&small, "x-ratelimit-remaining-requests"), Some("0"));
    let error = gateway_error(w.chat(&key, small_prompt()).await, 429, "rate_limit_exceeded", "rate_limit").await;
    assert!(error["message"].as_str().unwrap().contains("requests-per-minute limit of 2"), "{error}");
}

async fn answers_carry_the_keys_standing_in_rate_headers(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({"rpm": 3, "tpm": 5000})).await;
    let answer = w.chat(&key, small_prompt()).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(header(&answer, "x-ratelimit-limit-requests"), Some("3"));
    assert_eq!(header(&answer, "x-ratelimit-remaining-requests"), Some("2"));
    assert_eq!(header(&answer, "x-ratelimit-reset-requests"), Some("20s"));
    assert_eq!(header(&answer, "x-ratelimit-limit-tokens"), Some("5000"));
    let remaining: u64 = header(&answer, "x-ratelimit-remaining-tokens").unwrap().parse().unwrap();
    assert!((4000..5000).contains(&remaining), "{remaining} tokens left");

    let unlimited = w.key(json!({})).await;
    let answer = w.chat(&unlimited, small_prompt()).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(header(&answer, "x-ratelimit-limit-requests").is_none(), "a key without limits has no standing");
}

on_both_backends!(
    a_refusal_by_one_limit_takes_nothing_from_the_others,
    answers_carry_the_keys_standing_in_rate_headers
);

/// A Redis key prefix of this test's own; its keys are deleted when it ends.
struct RedisPrefix(String);

impl RedisPrefix {
    fn new() -> RedisPrefix {
        RedisPrefix(format!("tollgate-test-{}", uuid::Uuid::now_v7().simple()))
    }

    fn configure(&self, url: &str) -> impl Fn(&mut Config) + '_ {
        let url = url.to_owned();
        move |config: &mut Config| {
            config.redis_url = Some(url.clone());
            config.redis_prefix = self.0.clone();
        }
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(MACHINE_REDIS) else { return };
        let Ok(mut connection) = client.get_connection() else { return };
        let keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("{}:*", self.0)).query(&mut connection).unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query(&mut connection);
        }
    }
}

const MACHINE_REDIS: &str = "redis://127.0.0.1:6379";

async fn chat_on(app: &TestApp, key: &str, body: Value) -> Response {
    Client::new().post(app.url("/v1/chat/completions")).bearer_auth(key).json(&body).send().await.unwrap()
}

async fn ready(app: &TestApp) -> Value {
    Client::new().get(app.url("/readyz")).send().await.unwrap().json().await.unwrap()
}

/// Two instances on one PostgreSQL database and one Redis, keys made before the second starts.
async fn two_instances(prefix: &RedisPrefix, url: &str, policy: Value) -> (World, String, TestApp) {
    let w = World::with_config(Backend::Postgres, prefix.configure(url)).await;
    let key = w.key(policy).await;
    let second = spawn_beside(&w.app, prefix.configure(url)).await;
    (w, key, second)
}

#[tokio::test]
async fn requests_per_minute_hold_across_instances_through_redis() {
    let prefix = RedisPrefix::new();
    let (w, key, second) = two_instances(&prefix, MACHINE_REDIS, json!({"rpm": 4})).await;
    assert_eq!(ready(&second).await["rate_limiter"], "shared");
    let mut admitted = 0;
    for i in 0..10 {
        let app = if i % 2 == 0 { &w.app } else { &second };
        match chat_on(app, &key, hello("echo-1")).await.status() {
            StatusCode::OK => admitted += 1,
            status => assert_eq!(status, StatusCode::TOO_MANY_REQUESTS),
        }
    }
    assert_eq!(admitted, 4, "two instances admit one key's four a minute, not eight");
}

#[tokio::test]
async fn a_concurrency_slot_on_one_instance_is_seen_by_the_other() {
    let prefix = RedisPrefix::new();
    let w = World::with_config(Backend::Postgres, prefix.configure(MACHINE_REDIS)).await;
    let channel = w.channel("slow-stream", "openai", "stream-slow", 0, 10_000).await;
    w.model("streamer", &[(&channel, None)]).await;
    let key = w.key(json!({"max_concurrency": 1})).await;
    let second = spawn_beside(&w.app, prefix.configure(MACHINE_REDIS)).await;

    let stream = json!({"model": "streamer", "stream": true, "messages": [{"role": "user", "content": "go"}]});
    let held = w.chat(&key, stream).await;
    assert_eq!(held.status(), StatusCode::OK);
    let refused = chat_on(&second, &key, hello("echo-1")).await;
    gateway_error(refused, 429, "concurrency_limit_exceeded", "rate_limit").await;
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while chat_on(&second, &key, hello("echo-1")).await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "the slot is freed when the stream's client goes away");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn wrong_passwords_are_counted_by_every_instance() {
    let prefix = RedisPrefix::new();
    let (w, _, second) = two_instances(&prefix, MACHINE_REDIS, json!({})).await;
    let wrong = json!({"email": ADMIN_EMAIL, "password": "not the password"});
    for i in 0..5 {
        let app = if i % 2 == 0 { &w.app } else { &second };
        let answer = Client::new().post(app.url("/api/v1/session")).json(&wrong).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "attempt {}", i + 1);
    }
    for app in [&w.app, &second] {
        let answer = Client::new().post(app.url("/api/v1/session")).json(&wrong).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS, "the sixth is refused on every instance");
    }
}

/// A Redis server of this test's own, on a free port, that it can stop and start.
struct OwnRedis {
    port: u16,
    process: Option<std::process::Child>,
}

impl OwnRedis {
    fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = OwnRedis { port, process: None };
        redis.resume();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn resume(&mut self) {
        let process = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn until_ready_says(app: &TestApp, engine: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = ready(app).await;
        if body["rate_limiter"] == engine {
            return body;
        }
        assert!(Instant::now() < deadline, "readyz still says {body}, not {engine}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (a few probes at most) for the gauge `name` to read `value` in `/metrics`.
async fn until_metric_says(app: &TestApp, name: &str, value: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = Client::new().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let read = text.lines().find(|line| line.starts_with(name)).and_then(|line| line.rsplit(' ').next());
        if read == Some(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} reads {read:?}, not {value}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn with_redis_down_the_refuse_policy_refuses_limited_keys_until_it_returns() {
    let mut redis = OwnRedis::start();
    let prefix = RedisPrefix::new();
    let configure = |config: &mut Config| {
        prefix.configure(&redis.url())(config);
        config.redis_fallback = app::limits::WhenRedisFails::Refuse;
    };
    let w = World::with_config(Backend::Sqlite, configure).await;
    let limited = w.key(json!({"rpm": 100})).await;
    let unlimited = w.key(json!({})).await;
    let spent = w.key(json!({"rpm": 1})).await;
    assert_eq!(w.chat(&limited, hello("echo-1")).await.status(), StatusCode::OK);
    assert_eq!(w.chat(&spent, hello("echo-1")).await.status(), StatusCode::OK);
    gateway_error(w.chat(&spent, hello("echo-1")).await, 429, "rate_limit_exceeded", "rate_limit").await;
    until_metric_says(&w.app, "tollgate_rate_limiter_shared", "1").await;

    redis.stop();
    let body = until_ready_says(&w.app, "down").await;
    assert_eq!(body["when_redis_fails"], "refuse");
    until_metric_says(&w.app, "tollgate_rate_limiter_shared", "0").await;
    let refused = w.chat(&limited, hello("echo-1")).await;
    assert_eq!(header(&refused, "retry-after"), Some("1"));
    gateway_error(refused, 503, "rate_limiter_unavailable", "rate_limit").await;
    assert_eq!(w.chat(&unlimited, hello("echo-1")).await.status(), StatusCode::OK, "no limit, no Redis needed");
    // A key Redis refused a moment ago is refused here until its retry time, Redis or not.
    gateway_error(w.chat(&spent, hello("echo-1")).await, 429, "rate_limit_exceeded", "rate_limit").await;

    redis.resume();
    until_ready_says(&w.app, "shared").await;
    until_metric_says(&w.app, "tollgate_rate_limiter_shared", "1").await;
    assert_eq!(w.chat(&limited, hello("echo-1")).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn with_redis_down_the_split_policy_enforces_each_instances_share() {
    let redis = OwnRedis::start();
    let prefix = RedisPrefix::new();
    let url = redis.url();
    let w = World::with_config(Backend::Sqlite, prefix.configure(&url)).await;
    let key = w.key(json!({"rpm": 3})).await;
    drop(redis);
    until_ready_says(&w.app, "down").await;
    let statuses = [
        w.chat(&key, hello("echo-1")).await.status(),
        w.chat(&key, hello("echo-1")).await.status(),
        w.chat(&key, hello("echo-1")).await.status(),
        w.chat(&key, hello("echo-1")).await.status(),
    ];
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
}
