//! Configures a fresh Tollgate through its management API, as an operator would: an
//! `openai` channel to the mock, a priced model, plenty of credit and a key (with limits,
//! for the rows that measure them).

use crate::error::BenchError;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The model the benchmark calls through Tollgate.
pub const MODEL: &str = "bench-1";
/// Far more credit than any run spends (micro-units), so the quota layer never refuses.
const CREDIT: i64 = 1_000_000_000_000_000;
/// The limited key's RPM, TPM and concurrency: far above what a run sends (some 20,000
/// requests a second, each held at under 200 tokens, a few hundred at once at most), so
/// every request is counted against all three and none is refused. The management API
/// sets no maximum (BIGINT columns); TPM stays far inside the 2^53 a Lua number holds exactly.
pub const LIMITS: KeyLimits = KeyLimits { rpm: 10_000_000, tpm: 1_000_000_000_000, max_concurrency: 100_000 };

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct KeyLimits {
    pub rpm: i64,
    pub tpm: i64,
    pub max_concurrency: i64,
}

pub struct Admin<'a> {
    pub base: &'a str,
    pub email: &'a str,
    pub password: &'a str,
}

/// What the run was given: a key the gateway already accepts, its account, and the
/// signed-in management client.
pub struct Configured {
    pub secret: String,
    pub key_id: String,
    pub account: String,
    pub client: Client,
}

/// Configures everything; the key has [`LIMITS`] when `limited`, no limit otherwise.
pub async fn configure(admin: &Admin<'_>, upstream_base: &str, limited: bool) -> Result<Configured, BenchError> {
    // Signed in with the session cookie, it writes as the console's own pages do (CSRF check).
    let origin = reqwest::header::HeaderValue::from_str(admin.base)
        .map_err(|err| BenchError::Setup { step: "client", detail: err.to_string() })?;
    let headers = reqwest::header::HeaderMap::from_iter([(reqwest::header::ORIGIN, origin)]);
    let client = Client::builder().cookie_store(true).default_headers(headers).build().map_err(step("client"))?;
    let session = json!({"email": admin.email, "password": admin.password});
    // Signing in answers with the viewer, as `/api/v1/me` would: the demo account is ours.
    let me = call(&client, admin, "/api/v1/session", "sign in", session, StatusCode::OK).await?;
    let account = field(&me["accounts"][0]["account_id"], "sign in")?;
    let channel = json!({"name": "mock", "protocol": "openai", "base_url": format!("{upstream_base}/v1"),
        "credential": "sk-bench-upstream", "priority": 0, "timeout_ms": 30_000});
    let channel = call(&client, admin, "/api/v1/channels", "channel", channel, StatusCode::CREATED).await?;
    let model = json!({"code": MODEL, "name": MODEL, "input_price": 1_000_000, "output_price": 2_000_000,
        "context_window": 8192, "default_max_tokens": 256,
        "channels": [{"channel_id": field(&channel["id"], "channel")?, "upstream_model": null}]});
    call(&client, admin, "/api/v1/models", "model", model, StatusCode::CREATED).await?;
    let credit = json!({"amount": CREDIT, "note": "benchmark"});
    let credits = format!("/api/v1/accounts/{account}/credits");
    call(&client, admin, &credits, "credit", credit, StatusCode::CREATED).await?;
    let keys = format!("/api/v1/accounts/{account}/keys");
    let mut key = json!({"name": "benchmark"});
    if limited {
        key = json!({"name": "benchmark, limited", "rpm": LIMITS.rpm, "tpm": LIMITS.tpm,
            "max_concurrency": LIMITS.max_concurrency});
    }
    let key = call(&client, admin, &keys, "key", key, StatusCode::CREATED).await?;
    let (secret, key_id) = (field(&key["secret"], "key")?, field(&key["id"], "key")?);
    await_key(admin.base, &secret).await?;
    Ok(Configured { secret, key_id, account, client })
}

async fn call(
    client: &Client,
    admin: &Admin<'_>,
    path: &str,
    name: &'static str,
    body: Value,
    expected: StatusCode,
) -> Result<Value, BenchError> {
    let response = client.post(format!("{}{path}", admin.base)).json(&body).send().await.map_err(step(name))?;
    let status = response.status();
    let body: Value = response.json().await.map_err(step(name))?;
    if status != expected {
        return Err(BenchError::Setup { step: name, detail: format!("{status}: {body}") });
    }
    Ok(body)
}

/// The gateway reloads its catalog in the background: wait until it knows the new key.
async fn await_key(base: &str, secret: &str) -> Result<(), BenchError> {
    let client = Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let response = client.get(format!("{base}/v1/models")).bearer_auth(secret).send().await;
        if response.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(BenchError::NotReady { what: "the benchmark key", seconds: 10 })
}

fn field(value: &Value, name: &'static str) -> Result<String, BenchError> {
    value.as_str().map(str::to_owned).ok_or_else(|| BenchError::Setup { step: name, detail: "missing id".into() })
}

fn step(name: &'static str) -> impl Fn(reqwest::Error) -> BenchError {
    move |err| BenchError::Setup { step: name, detail: err.to_string() }
}
