//! A change made on one instance is enforced by every instance at once.

use crate::harness::{error_code, run_alone, Cluster, Options};
use crate::limits::small;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

const WITHIN: Duration = Duration::from_millis(100);

/// How long after `answered` the instance still admitted the key: the send time of the
/// first request it refused, which must be `api_key_revoked`.
async fn refused_after(cluster: &Cluster, instance: usize, secret: &str, answered: Instant) -> Duration {
    loop {
        let sent = answered.elapsed();
        let (status, code) = error_code(cluster.chat(instance, secret, &small()).await).await;
        if status != StatusCode::OK {
            assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "api_key_revoked"));
            return sent;
        }
        assert!(sent < Duration::from_secs(2), "the key is still admitted {sent:?} after the revocation");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_key_revoked_on_instance_1_is_refused_on_instance_3_within_100_ms() {
    run_alone(async {
        // The periodic reload is only the backstop: set far apart, it cannot be what
        // carries the revocation (a 1% chance it happens to fall in the 100 ms).
        let cluster = Cluster::start(Options::cluster().env("TOLLGATE_CATALOG_REFRESH_MS", "10000")).await;
        let created = json!({"name": "to revoke"});
        let url = cluster.url(0, &format!("/api/v1/accounts/{}/keys", cluster.account));
        let created: serde_json::Value =
            cluster.admin.post(url).json(&created).send().await.unwrap().json().await.unwrap();
        let (secret, id) = (created["secret"].as_str().unwrap(), created["id"].as_str().unwrap());
        cluster.wait_for_key(secret, Duration::from_secs(12)).await;
        assert_eq!(cluster.chat(2, secret, &small()).await.status(), StatusCode::OK);

        let revoked = cluster.admin.post(cluster.url(0, &format!("/api/v1/keys/{id}/revoke"))).send().await.unwrap();
        assert!(revoked.status().is_success(), "revoked on instance 1: {}", revoked.status());
        let answered = Instant::now();
        for (instance, name) in [(2, "instance 3"), (1, "instance 2")] {
            let refused_after = refused_after(&cluster, instance, secret, answered).await;
            eprintln!("{name} refused the revoked key {refused_after:?} after instance 1 answered");
            assert!(refused_after <= WITHIN, "{name} admitted the revoked key for {refused_after:?}");
        }
    })
    .await
}
