//! Redis (a server of the test's own) killed mid-run and started again on the same port:
//! the chosen policy (`TOLLGATE_REDIS_FALLBACK`) holds while it is down, nothing panics,
//! `/readyz` says so, and the limits are shared again once it is back.

use crate::harness::{run_alone, Cluster, Options, RedisServer};
use crate::limits::small;
use crate::load::burst;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Long enough for a client's reconnection back-off; the tests' own bound is 60 s.
const NOTICE: Duration = Duration::from_secs(10);

/// `/readyz` says the shared limiter is not in use: a 503, or `rate_limiter` other than `shared`.
fn says_down(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::SERVICE_UNAVAILABLE || body["rate_limiter"].as_str().is_some_and(|state| state != "shared")
}

fn says_shared(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::OK && body["rate_limiter"] == "shared"
}

/// Polls every instance until `/readyz` satisfies `check`, sending `probe` a request
/// each time (a client may notice the outage only when it is used).
async fn until_readyz(cluster: &Cluster, probe: &str, check: fn(StatusCode, &Value) -> bool, what: &str) {
    for i in 0..cluster.len() {
        let deadline = Instant::now() + NOTICE;
        loop {
            let _ = cluster.chat(i, probe, &small()).await;
            let (status, body) = cluster.readyz(i).await;
            if check(status, &body) {
                break;
            }
            assert!(Instant::now() < deadline, "instance {}'s /readyz never said {what}: {status} {body}", i + 1);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn assert_all_alive(cluster: &mut Cluster) {
    for i in 0..cluster.len() {
        assert!(cluster.alive(i), "instance {} died:\n{}", i + 1, cluster.logs(i));
    }
}

/// After Redis returned: a fresh key's RPM is shared again (the rule: 30 at once, then one
/// every two seconds), not three instances' worth.
async fn assert_shared_again(cluster: &Cluster) {
    let key = cluster.key(json!({"rpm": 30})).await;
    let outcome = burst(&cluster.client, &cluster.urls(), &key, &small(), 120, 24).await;
    eprintln!("rpm 30 after Redis returned: {outcome:?}");
    outcome.assert_refused_only_with(429, "rate_limit_exceeded");
    assert!((30..=31 + outcome.seconds() / 2).contains(&outcome.total()), "shared again: {outcome:?}");
}

#[tokio::test]
async fn with_redis_down_and_the_refuse_policy_limited_keys_get_503() {
    run_alone(async {
        let mut redis = RedisServer::start().await;
        let mut cluster =
            Cluster::start(Options::cluster().redis(&redis).env("TOLLGATE_REDIS_FALLBACK", "refuse")).await;
        let limited = cluster.key(json!({"rpm": 6000})).await;
        let unlimited = cluster.key(json!({})).await;
        for i in 0..cluster.len() {
            assert_eq!(cluster.chat(i, &limited, &small()).await.status(), StatusCode::OK);
        }

        redis.kill9();
        for i in 0..cluster.len() {
            let deadline = Instant::now() + NOTICE;
            while cluster.chat(i, &limited, &small()).await.status() == StatusCode::OK {
                assert!(Instant::now() < deadline, "instance {} still admits a limited key with Redis gone", i + 1);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        for _ in 0..2 * cluster.len() {
            let (i, response) = cluster.chat_rr(&limited, &small()).await;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "instance {}: {body}", i + 1);
            let refusal = (&body["error"]["code"], &body["error"]["layer"]);
            assert_eq!(refusal, (&json!("rate_limiter_unavailable"), &json!("rate_limit")), "{body}");
            let unlimited = cluster.chat(i, &unlimited, &small()).await.status();
            assert_eq!(unlimited, StatusCode::OK, "a key without limits needs no limiter");
            let (status, body) = cluster.readyz(i).await;
            assert!(says_down(status, &body), "instance {}'s /readyz while Redis is down: {status} {body}", i + 1);
        }
        assert_all_alive(&mut cluster);

        redis.restart().await;
        for i in 0..cluster.len() {
            let deadline = Instant::now() + NOTICE;
            while cluster.chat(i, &limited, &small()).await.status() != StatusCode::OK {
                assert!(Instant::now() < deadline, "instance {} never used Redis again", i + 1);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        until_readyz(&cluster, &limited, says_shared, "the limiter is shared again").await;
        assert_shared_again(&cluster).await;
        assert_all_alive(&mut cluster);
    })
    .await
}

#[tokio::test]
async fn with_redis_down_and_the_split_policy_each_instance_enforces_its_share() {
    const RPM: usize = 60;
    run_alone(async {
        let mut redis = RedisServer::start().await;
        // Heartbeats every second, so each instance soon counts the three it splits among.
        let options = Options::cluster()
            .redis(&redis)
            .env("TOLLGATE_REDIS_FALLBACK", "split")
            .env("TOLLGATE_INSTANCE_STALE_MS", "6000");
        let mut cluster = Cluster::start(options).await;
        let probe = cluster.key(json!({"rpm": 6000})).await;
        let key = cluster.key(json!({"rpm": RPM})).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        for i in 0..3 {
            while cluster.readyz(i).await.1["live_instances"] != 3 {
                assert!(Instant::now() < deadline, "instance {} does not count three live instances", i + 1);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }

        redis.kill9();
        until_readyz(&cluster, &probe, says_down, "the limiter is down").await;
        let outcome = burst(&cluster.client, &cluster.urls(), &key, &small(), 4 * RPM, 24).await;
        eprintln!("rpm {RPM} split over 3 instances while Redis is down: {outcome:?}");
        outcome.assert_refused_only_with(429, "rate_limit_exceeded");
        let share = RPM / 3;
        for (i, admitted) in outcome.admitted.iter().enumerate() {
            let most = share + share * outcome.seconds() / 60 + 1;
            assert!((share..=most).contains(admitted), "instance {} admitted {admitted}: its share is {share}", i + 1);
        }
        assert_all_alive(&mut cluster);

        redis.restart().await;
        until_readyz(&cluster, &probe, says_shared, "the limiter is shared again").await;
        assert_shared_again(&cluster).await;
        assert_all_alive(&mut cluster);
    })
    .await
}
