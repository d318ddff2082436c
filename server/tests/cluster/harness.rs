//! Several `tollgate serve` processes on one fresh PostgreSQL database and one Redis key
//! prefix, as a load balancer would see them: random loopback ports, distinct instance ids.

use crate::instance::{Instance, START_TIMEOUT};
pub use crate::services::RedisServer;
use crate::services::{shared_redis_url, Database, RedisKeys};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const ADMIN_EMAIL: &str = "admin@tollgate.local";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const PASSWORD: &str = "a long enough password";
/// Base64 of 32 bytes: instances sharing a database must decrypt each other's credentials.
const CREDENTIAL_KEY: &str = "Y2x1c3Rlci10ZXN0cy1jcmVkZW50aWFsLWtleS0zMmI=";
/// Every cluster test's bound, start-up included.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Cluster tests measure rates and latencies on shared cores: one at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs one cluster test alone, within [`TEST_TIMEOUT`].
pub async fn run_alone(test: impl std::future::Future<Output = ()>) {
    let _turn = TURN.lock().await;
    let _took = Took(Instant::now());
    if tokio::time::timeout(TEST_TIMEOUT, test).await.is_err() {
        panic!("the test did not finish within {TEST_TIMEOUT:?}");
    }
}

/// Says how long a test took, failed or not.
struct Took(Instant);

impl Drop for Took {
    fn drop(&mut self) {
        eprintln!("cluster test took {:.1} s", self.0.elapsed().as_secs_f64());
    }
}

#[derive(Clone)]
enum Redis {
    None,
    Shared,
    Own(String),
}

/// What to start: how many instances, which Redis, extra `TOLLGATE_*` settings.
#[derive(Clone)]
pub struct Options {
    instances: usize,
    redis: Redis,
    env: Vec<(String, String)>,
}

impl Options {
    /// Three instances sharing the machine's Redis under a prefix of their own.
    pub fn cluster() -> Options {
        Options { instances: 3, redis: Redis::Shared, env: Vec::new() }
    }

    /// One instance and no Redis: today's in-process limits, the figure to compare with.
    pub fn standalone() -> Options {
        Options { instances: 1, redis: Redis::None, env: Vec::new() }
    }

    pub fn redis(mut self, server: &RedisServer) -> Options {
        self.redis = Redis::Own(server.url());
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Options {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A running cluster: its instances, a signed-in admin and the demo account.
pub struct Cluster {
    instances: Vec<Instance>,
    pub database: Database,
    _redis_keys: Option<RedisKeys>,
    _dir: tempfile::TempDir,
    next: AtomicUsize,
    /// The seeded admin's session (sessions live in the database: good on every instance).
    pub admin: Client,
    /// The seeded Demo account, which the admin owns.
    pub account: String,
    /// A plain client for the data plane.
    pub client: Client,
}

impl Cluster {
    /// Starts the first instance (which migrates and seeds), waits until it is ready,
    /// then the others one by one, each ready before the next.
    pub async fn start(options: Options) -> Cluster {
        let database = Database::create().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let prefix = format!("tollgate-test-{}:", uuid::Uuid::now_v7().simple());
        let redis_url = match &options.redis {
            Redis::None => None,
            Redis::Shared => Some(shared_redis_url()),
            Redis::Own(url) => Some(url.clone()),
        };
        let redis_keys = redis_url.clone().map(|url| RedisKeys { url, prefix: prefix.clone() });
        let mut instances = Vec::new();
        for index in 0..options.instances {
            let data_dir = dir.path().join(format!("instance-{}", index + 1));
            std::fs::create_dir_all(&data_dir).expect("data dir");
            let mut env: Vec<(String, String)> = [
                ("TOLLGATE_DATABASE_URL", database.url.as_str()),
                ("TOLLGATE_DATABASE_MAX_CONNECTIONS", "5"),
                ("TOLLGATE_DATA_DIR", &data_dir.to_string_lossy()),
                ("TOLLGATE_LISTEN", "127.0.0.1:0"),
                ("TOLLGATE_INSTANCE_ID", &format!("instance-{}", index + 1)),
                ("TOLLGATE_ADMIN_PASSWORD", ADMIN_PASSWORD),
                ("TOLLGATE_SEED_DEMO", "true"),
                ("TOLLGATE_CREDENTIAL_KEY", CREDENTIAL_KEY),
                ("NO_COLOR", "1"),
            ]
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
            if let Some(url) = &redis_url {
                env.push(("TOLLGATE_REDIS_URL".into(), url.clone()));
                env.push(("TOLLGATE_REDIS_PREFIX".into(), prefix.clone()));
            }
            env.extend(options.env.iter().cloned());
            let mut instance = Instance::spawn(env, dir.path().join(format!("instance-{}.log", index + 1))).await;
            // A restart comes back on the same port, as behind a load balancer.
            let listen = instance.base.trim_start_matches("http://").to_owned();
            instance.env.retain(|(name, _)| name != "TOLLGATE_LISTEN");
            instance.env.push(("TOLLGATE_LISTEN".into(), listen));
            wait_ready(&instance.base).await;
            instances.push(instance);
        }
        let admin = browser();
        let signed_in = admin
            .post(format!("{}/api/v1/session", instances[0].base))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .expect("sign in");
        assert_eq!(signed_in.status(), StatusCode::OK, "the seeded admin signs in");
        let me: Value = signed_in.json().await.unwrap();
        let account = me["accounts"][0]["account_id"].as_str().expect("the demo account").to_owned();
        let client = Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
        Cluster {
            instances,
            database,
            _redis_keys: redis_keys,
            _dir: dir,
            next: AtomicUsize::new(0),
            admin,
            account,
            client,
        }
    }

    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// Every instance's base URL (`http://127.0.0.1:PORT`), in instance order.
    pub fn urls(&self) -> Vec<String> {
        self.instances.iter().map(|instance| instance.base.clone()).collect()
    }

    /// `path` on instance `i` (0-based: instance 1 is `url(0, …)`).
    pub fn url(&self, i: usize, path: &str) -> String {
        format!("{}{path}", self.instances[i].base)
    }

    /// The next instance in round-robin order.
    pub fn next(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.instances.len()
    }

    /// `kill -9` of instance `i`.
    pub fn kill9(&mut self, i: usize) {
        self.instances[i].kill9();
    }

    /// Starts instance `i` again with the same settings (id, port, data dir); waits until ready.
    pub async fn restart(&mut self, i: usize) {
        self.instances[i].kill9();
        let (env, log_path) = (self.instances[i].env.clone(), self.instances[i].log_path.clone());
        let instance = Instance::spawn(env, log_path).await;
        wait_ready(&instance.base).await;
        self.instances[i] = instance;
    }

    pub fn alive(&mut self, i: usize) -> bool {
        self.instances[i].alive()
    }

    /// What instance `i` logged so far.
    pub fn logs(&self, i: usize) -> String {
        std::fs::read_to_string(&self.instances[i].log_path).unwrap_or_default()
    }

    pub async fn chat(&self, i: usize, key: &str, body: &Value) -> Response {
        self.client.post(self.url(i, "/v1/chat/completions")).bearer_auth(key).json(body).send().await.unwrap()
    }

    /// A chat request to the next instance in round-robin order.
    pub async fn chat_rr(&self, key: &str, body: &Value) -> (usize, Response) {
        let i = self.next();
        (i, self.chat(i, key, body).await)
    }

    /// `GET /readyz` of instance `i`: its status and body.
    pub async fn readyz(&self, i: usize) -> (StatusCode, Value) {
        let response = self.client.get(self.url(i, "/readyz")).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Creates a key with `policy` on `account`; returns its secret once every instance accepts it.
    pub async fn key_on(&self, account: &str, policy: Value) -> String {
        let mut body = json!({"name": "cluster test"});
        body.as_object_mut().unwrap().extend(policy.as_object().cloned().unwrap_or_default());
        let created = self.admin.post(self.url(0, &format!("/api/v1/accounts/{account}/keys"))).json(&body);
        let created = created.send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text().await.unwrap());
        let secret = created.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
        self.wait_for_key(&secret, Duration::from_secs(5)).await;
        secret
    }

    /// A key of the demo account.
    pub async fn key(&self, policy: Value) -> String {
        self.key_on(&self.account.clone(), policy).await
    }

    /// Waits until every instance accepts `secret` (each reloads its catalog).
    pub async fn wait_for_key(&self, secret: &str, within: Duration) {
        let deadline = Instant::now() + within;
        for i in 0..self.len() {
            let models = self.url(i, "/v1/models");
            while self.client.get(&models).bearer_auth(secret).send().await.unwrap().status() != StatusCode::OK {
                assert!(Instant::now() < deadline, "instance {} never loaded the key", i + 1);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    pub async fn admin_id(&self) -> String {
        let me: Value = self.admin.get(self.url(0, "/api/v1/me")).send().await.unwrap().json().await.unwrap();
        me["user"]["id"].as_str().unwrap().to_owned()
    }

    /// A new account the admin owns, holding exactly `funds` micro-units.
    pub async fn account_with(&self, name: &str, funds: i64) -> String {
        let created = self.admin.post(self.url(0, "/api/v1/accounts")).json(&json!({"name": name}));
        let created = created.send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let member = json!({"user_id": self.admin_id().await, "role": "owner"});
        let added = self.admin.post(self.url(0, &format!("/api/v1/accounts/{id}/members"))).json(&member);
        assert_eq!(added.send().await.unwrap().status(), StatusCode::CREATED);
        if funds > 0 {
            self.grant(&id, funds).await;
        }
        id
    }

    pub async fn grant(&self, account: &str, amount: i64) {
        let url = self.url(0, &format!("/api/v1/accounts/{account}/credits"));
        let granted = self.admin.post(url).json(&json!({"amount": amount, "note": "cluster test"}));
        let granted = granted.send().await.unwrap();
        assert_eq!(granted.status(), StatusCode::CREATED, "{}", granted.text().await.unwrap());
    }

    /// An `openai` channel to `base_url` and a model `code` served by it (1 micro-unit per
    /// input token, 2 per output token).
    pub async fn upstream_model(&self, code: &str, base_url: &str) {
        let channel = json!({"name": code, "protocol": "openai", "base_url": base_url,
            "credential": "sk-cluster-test", "timeout_ms": 60_000});
        let created = self.admin.post(self.url(0, "/api/v1/channels")).json(&channel).send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text().await.unwrap());
        let channel_id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let model = json!({"code": code, "name": code, "input_price": 1_000_000, "output_price": 2_000_000,
            "context_window": 8192, "default_max_tokens": 256, "channels": [{"channel_id": channel_id}]});
        let created = self.admin.post(self.url(0, "/api/v1/models")).json(&model).send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text().await.unwrap());
    }

    /// Waits until every instance routes `model` for `key` (their catalogs reloaded).
    pub async fn wait_for_model(&self, key: &str, model: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for i in 0..self.len() {
            loop {
                let listed: Value = self
                    .client
                    .get(self.url(i, "/v1/models"))
                    .bearer_auth(key)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap_or(Value::Null);
                let known = listed["data"].as_array().is_some_and(|data| data.iter().any(|m| m["id"] == model));
                if known {
                    break;
                }
                assert!(Instant::now() < deadline, "instance {} never loaded model {model}", i + 1);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for instance in &mut self.instances {
            instance.kill9();
        }
        if std::thread::panicking() {
            for (i, instance) in self.instances.iter().enumerate() {
                eprintln!("---- instance {} log (last lines) ----\n{}", i + 1, tail(&instance.log_path, 40));
            }
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

async fn wait_ready(base: &str) {
    let client = Client::new();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|response| response.status() == StatusCode::OK) {
            return;
        }
        assert!(Instant::now() < deadline, "{base} never became ready");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A client that keeps cookies, as a browser tab on the console's own pages does.
pub fn browser() -> Client {
    let same_origin = reqwest::header::HeaderMap::from_iter([(
        reqwest::header::HeaderName::from_static("sec-fetch-site"),
        reqwest::header::HeaderValue::from_static("same-origin"),
    )]);
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(same_origin)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// The error code of a gateway or API error body, or `""`.
pub async fn error_code(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}
