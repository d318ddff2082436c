//! Several instances on one database: they register and heartbeat, count each other, refuse
//! to share rate limits without Redis, fence an instance presumed dead (`fencing`) and hear
//! of each other's changes at once (`changes`).

mod changes;
mod fencing;

use crate::helpers::{spawn_app_with, spawn_peer, test_config, Backend};
use crate::on_both_backends;
use serde_json::Value;
use server::config::Config;
use server::startup::Application;
use std::time::{Duration, Instant};

/// Where the shared rate limits would live; this branch only checks that it is set.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Heartbeats every half second, so tests see instances come and go quickly.
pub const STALE_MS: u64 = 3_000;

/// An instance that may run beside others.
pub fn clustered(config: &mut Config) {
    config.instance_stale_ms = STALE_MS;
    config.redis_url = Some(REDIS_URL.to_owned());
}

async fn readiness(base: &str) -> Value {
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    ready.json().await.unwrap()
}

/// Waits (up to a few heartbeats) until the instance at `base` counts `expected` live instances.
async fn counts_live(base: &str, expected: u64) {
    let deadline = Instant::now() + Duration::from_millis(STALE_MS);
    loop {
        let live = readiness(base).await["live_instances"].as_u64();
        if live == Some(expected) {
            return;
        }
        assert!(Instant::now() < deadline, "{base} counts {live:?} live instances, not {expected}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn registered(url: &str) -> Vec<String> {
    let db = app::db::Db::connect(url, 1).await.unwrap();
    let ids = sqlx::query_scalar("SELECT instance_id FROM instances ORDER BY instance_id")
        .fetch_all(db.pool())
        .await
        .unwrap();
    db.close().await;
    ids
}

/// Two instances started on one data dir get ids of their own, count each other while
/// both heartbeat, and an instance that stops leaves the count at once.
async fn instances_register_count_each_other_and_leave(backend: Backend) {
    let first = spawn_app_with(backend, clustered).await;
    let first_id = readiness(&first.base).await["instance"].as_str().unwrap().to_owned();
    counts_live(&first.base, 1).await;

    let second = spawn_peer(&first, clustered).await;
    let second_id = readiness(&second.base).await["instance"].as_str().unwrap().to_owned();
    assert_ne!(first_id, second_id, "one data dir, two ids");
    counts_live(&second.base, 2).await;
    counts_live(&first.base, 2).await;
    let mut both = vec![first_id.clone(), second_id];
    both.sort();
    assert_eq!(registered(&first.database.url).await, both);

    second.stop().await;
    assert_eq!(registered(&first.database.url).await, [first_id], "a graceful stop deletes the row");
    counts_live(&first.base, 1).await;
}

/// Without Redis each instance would enforce every rate limit whole: a second live
/// instance is refused, with a sentence that says why, and leaves no registration behind.
async fn a_second_instance_without_redis_is_refused(backend: Backend) {
    let first = spawn_app_with(backend, |config| config.instance_stale_ms = STALE_MS).await;
    let first_id = readiness(&first.base).await["instance"].as_str().unwrap().to_owned();
    let mut config = test_config(&first.database);
    config.instance_stale_ms = STALE_MS;
    let refused = match Application::build(config).await {
        Ok(_) => panic!("a second instance without Redis started"),
        Err(err) => err.to_string(),
    };
    assert!(
        refused.starts_with(&format!("another Tollgate instance (id {first_id}, heartbeat "))
            && refused.ends_with(
                "s ago) is running on this database; several instances share rate limits only through Redis: set TOLLGATE_REDIS_URL"
            ),
        "{refused}"
    );
    assert_eq!(registered(&first.database.url).await, [first_id]);
}

on_both_backends!(instances_register_count_each_other_and_leave, a_second_instance_without_redis_is_refused);
