//! One Tollgate of the run: `tollgate serve` on a data directory and a fresh database of
//! its own, with everything on (auth, policy, reservation, billing and usage logging, as
//! `make run` would), waited for and configured through its management API.

use crate::database::Databases;
use crate::error::BenchError;
use crate::limits::Engine;
use crate::process::{free_port, wait_until, Child};
use crate::settings::Settings;
use crate::setup::{self, Configured};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const ADMIN_EMAIL: &str = "bench@tollgate.local";

pub struct Gateway {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub process: Child,
    pub configured: Configured,
    pub database_url: String,
}

/// Starts and configures a Tollgate in front of `upstream`. `limits` says where its key's
/// limits are counted; none: the key has no limits.
pub async fn start(
    settings: &Settings,
    scratch: &Path,
    databases: &mut Databases,
    upstream: &str,
    limits: Option<Engine>,
) -> Result<Gateway, BenchError> {
    let (process_name, name) = match limits {
        None => ("tollgate", "tollgate"),
        Some(Engine::InProcess) => ("tollgate (limits in-process)", "tollgate-limits-in-process"),
        Some(Engine::Redis) => ("tollgate (limits in Redis)", "tollgate-limits-in-redis"),
    };
    let dir = scratch.join(name);
    std::fs::create_dir_all(&dir).map_err(BenchError::io(&dir))?;
    let database_url = databases.create(&dir).await?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let command = command(settings, &dir, &database_url, port, limits);
    let mut process = Child::spawn(process_name, command, settings.out_dir.join(format!("{name}.log")))?;
    let (client, ready) = (reqwest::Client::new(), format!("{base}/readyz"));
    let (client_ref, ready) = (&client, ready.as_str());
    let up = move || async move { client_ref.get(ready).send().await.is_ok_and(|r| r.status().is_success()) };
    wait_until(process_name, &mut process, Duration::from_secs(60), up).await?;
    check_engine(&client, ready, limits, settings).await?;
    let admin = setup::Admin { base: &base, email: ADMIN_EMAIL, password: &settings.admin_password };
    let configured = setup::configure(&admin, upstream, limits.is_some()).await?;
    Ok(Gateway { base, process, configured, database_url })
}

/// Fails unless `/readyz` says the limits are counted where they should be: a Redis that
/// did not answer would have its rows measure the in-process fallback instead.
async fn check_engine(
    client: &reqwest::Client,
    ready: &str,
    limits: Option<Engine>,
    settings: &Settings,
) -> Result<(), BenchError> {
    let expected = match limits {
        Some(Engine::Redis) => "shared",
        _ => "local",
    };
    let failed = |err: reqwest::Error| BenchError::Setup { step: "readyz", detail: err.to_string() };
    let body: Value = client.get(ready).send().await.map_err(failed)?.json().await.map_err(failed)?;
    let counted = body["rate_limiter"].as_str().unwrap_or("unknown");
    if counted == expected {
        return Ok(());
    }
    let url = settings.redis.as_ref().map_or("", |redis| redis.url.as_str());
    let detail = format!("/readyz says the limits are counted `{counted}`, not `{expected}` (Redis at {url:?})");
    Err(BenchError::Setup { step: "rate limiter", detail })
}

/// `tollgate serve` on `database_url`; the demo account gets the key. Limits counted in
/// Redis go under the run's own prefix.
fn command(settings: &Settings, dir: &Path, database_url: &str, port: u16, limits: Option<Engine>) -> Command {
    let mut command = Command::new(&settings.tollgate_bin);
    // The caller's own TOLLGATE_* settings (or a tollgate.toml) must not change the run.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("TOLLGATE_")) {
        command.env_remove(name);
    }
    command
        .arg("serve")
        .current_dir(dir)
        .env("TOLLGATE_DATABASE_URL", database_url)
        .env("TOLLGATE_DATA_DIR", dir)
        .env("TOLLGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("TOLLGATE_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("TOLLGATE_ADMIN_PASSWORD", &settings.admin_password)
        .env("TOLLGATE_SEED_DEMO", "true");
    if let Some(cap) = settings.message_cap {
        command.env("TOLLGATE_MAX_REQUEST_MESSAGES", cap.to_string());
    }
    if let (Some(Engine::Redis), Some(redis)) = (limits, &settings.redis) {
        // Refuse, not split: a Redis failing mid-run shows as errors in its rows instead
        // of quietly turning them into in-process ones.
        command
            .env("TOLLGATE_REDIS_URL", &redis.url)
            .env("TOLLGATE_REDIS_PREFIX", &redis.prefix)
            .env("TOLLGATE_REDIS_FALLBACK", "refuse");
    }
    command
}
