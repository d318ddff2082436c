//! A key's RPM, TPM and concurrency hold across the instances as they hold on one.

use crate::harness::{error_code, run_alone, Cluster, Options};
use crate::load::burst;
use crate::mock::Mock;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const RPM: usize = 60;
const TPM: u64 = 1200;
/// Words in the TPM test's prompt; echo answers them back, so a request costs twice that.
const WORDS: u64 = 20;

/// A small echo request.
pub fn small() -> Value {
    json!({"model": "echo-1", "max_tokens": 4, "messages": [{"role": "user", "content": "hello there"}]})
}

fn stream_of(model: &str) -> Value {
    json!({"model": model, "stream": true, "max_tokens": 8, "messages": [{"role": "user", "content": "hold on"}]})
}

/// The rule (README): a bucket of `limit` requests at once, refilled at `limit` a minute.
fn assert_within_the_rule(admitted: usize, limit: usize, seconds: usize, what: &str) {
    let refill = limit * seconds / 60;
    assert!(
        (limit..=limit + refill + 1).contains(&admitted),
        "{what}: {admitted} admitted, the rule allows {limit} at once and {refill} more in {seconds} s"
    );
}

#[tokio::test]
async fn rpm_over_three_instances_admits_what_one_instance_admits() {
    run_alone(async {
        let alone = {
            let single = Cluster::start(Options::standalone()).await;
            let key = single.key(json!({"rpm": RPM})).await;
            burst(&single.client, &single.urls(), &key, &small(), 4 * RPM, 24).await
        };
        let cluster = Cluster::start(Options::cluster()).await;
        let key = cluster.key(json!({"rpm": RPM})).await;
        let spread = burst(&cluster.client, &cluster.urls(), &key, &small(), 4 * RPM, 24).await;
        eprintln!("rpm {RPM}: one instance admitted {alone:?}; three admitted {spread:?}");
        alone.assert_refused_only_with(429, "rate_limit_exceeded");
        spread.assert_refused_only_with(429, "rate_limit_exceeded");
        assert_within_the_rule(alone.total(), RPM, alone.seconds(), "one instance");
        assert_within_the_rule(spread.total(), RPM, spread.seconds(), "three instances");
        assert!(
            spread.total().abs_diff(alone.total()) <= 2,
            "three instances admitted {} where one admits {}",
            spread.total(),
            alone.total()
        );
    })
    .await
}

/// TPM counts the tokens echo really used (its `usage`): held from the estimate while a
/// request runs, settled with the real count after it. Requests go one at a time, so the
/// figure does not depend on how many estimates happen to be held at once.
#[tokio::test]
async fn tpm_over_three_instances_admits_what_one_instance_admits() {
    let words = vec!["word"; WORDS as usize].join(" ");
    let body = json!({"model": "echo-1", "max_tokens": WORDS, "messages": [{"role": "user", "content": words}]});
    // Today's estimate: the body's bytes (an upper bound of its tokens) plus the output cap.
    let estimate = serde_json::to_vec(&body).unwrap().len() as u64 + WORDS;
    let per_request = 2 * WORDS;
    let requests = 4 * (TPM / per_request) as usize;
    run_alone(async {
        let alone = {
            let single = Cluster::start(Options::standalone()).await;
            let key = single.key(json!({"tpm": TPM})).await;
            burst(&single.client, &single.urls(), &key, &body, requests, 1).await
        };
        let cluster = Cluster::start(Options::cluster()).await;
        let key = cluster.key(json!({"tpm": TPM})).await;
        let spread = burst(&cluster.client, &cluster.urls(), &key, &body, requests, 1).await;
        eprintln!(
            "tpm {TPM} ({per_request} tokens a request, estimate {estimate}): one instance {alone:?}; three {spread:?}"
        );
        for (outcome, what) in [(&alone, "one instance"), (&spread, "three instances")] {
            outcome.assert_refused_only_with(429, "rate_limit_exceeded");
            assert_eq!(outcome.tokens, outcome.total() as u64 * per_request, "echo's real counts");
            let allowed = TPM + TPM * outcome.seconds() as u64 / 60;
            assert!(outcome.tokens <= allowed, "{what}: {} tokens admitted, at most {allowed} allowed", outcome.tokens);
            // Settled with the real tokens, the bucket is left with less than one estimate.
            assert!(
                outcome.tokens + estimate + per_request >= TPM,
                "{what}: only {} tokens admitted of {TPM}: settled with the estimate, not the real count?",
                outcome.tokens
            );
        }
        assert!(
            spread.total().abs_diff(alone.total()) <= 2,
            "three instances admitted {} where one admits {}",
            spread.total(),
            alone.total()
        );
    })
    .await
}

/// 30 streams that each hold the upstream for a while, retried until admitted: the mock
/// never serves more than 3 at once, and every one of them gets its turn.
#[tokio::test]
async fn max_concurrency_holds_over_three_instances() {
    run_alone(async {
        let mock = Mock::start().await;
        let cluster = Cluster::start(Options::cluster()).await;
        cluster.upstream_model("held", &mock.url("hold-400")).await;
        let key = cluster.key(json!({"max_concurrency": 3})).await;
        cluster.wait_for_model(&key, "held").await;
        let streams = (0..30).map(|n| {
            let (client, url, key) = (cluster.client.clone(), cluster.url(n % 3, "/v1/chat/completions"), key.clone());
            tokio::spawn(async move {
                let mut refusals = 0;
                loop {
                    let response = client.post(&url).bearer_auth(&key).json(&stream_of("held")).send().await.unwrap();
                    if response.status() == StatusCode::OK {
                        assert!(response.text().await.unwrap().contains("[DONE]"), "the stream ran to its end");
                        return refusals;
                    }
                    let refused = error_code(response).await;
                    assert_eq!(refused, (StatusCode::TOO_MANY_REQUESTS, "concurrency_limit_exceeded".into()));
                    refusals += 1;
                    tokio::time::sleep(Duration::from_millis(40 + (n as u64 % 7) * 10)).await;
                }
            })
        });
        let refusals: usize = futures_util::future::join_all(streams).await.into_iter().map(Result::unwrap).sum();
        eprintln!("30 streams: {refusals} refusals, at most {} in flight at the mock", mock.most_in_flight());
        assert_eq!(mock.started(), 30, "every stream reached the upstream once");
        assert!(
            mock.most_in_flight() <= 3,
            "{} streams in flight at once for max_concurrency = 3",
            mock.most_in_flight()
        );
        assert!(refusals > 0, "the limit was reached");
    })
    .await
}

/// The instance holding every slot is killed: its slots expire, so the others admit the
/// key again within the expiry (`TOLLGATE_CONCURRENCY_EXPIRY_SECONDS`, 3 s here).
#[tokio::test]
async fn slots_of_a_killed_instance_are_free_within_the_expiry() {
    const EXPIRY: Duration = Duration::from_secs(3);
    run_alone(async {
        let mock = Mock::start().await;
        let options = Options::cluster().env("TOLLGATE_CONCURRENCY_EXPIRY_SECONDS", &EXPIRY.as_secs().to_string());
        let mut cluster = Cluster::start(options).await;
        cluster.upstream_model("held", &mock.url("hold-30000")).await;
        let key = cluster.key(json!({"max_concurrency": 3})).await;
        cluster.wait_for_model(&key, "held").await;
        let mut held = Vec::new();
        for _ in 0..3 {
            let response = cluster.chat(0, &key, &stream_of("held")).await;
            assert_eq!(response.status(), StatusCode::OK, "instance 1 admits three streams");
            held.push(response);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while mock.in_flight() < 3 {
            assert!(Instant::now() < deadline, "the three streams never reached the upstream");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for i in [1, 2] {
            let refused = error_code(cluster.chat(i, &key, &small()).await).await;
            let expected = (StatusCode::TOO_MANY_REQUESTS, "concurrency_limit_exceeded".to_owned());
            assert_eq!(refused, expected, "instance {} sees the slots instance 1 holds", i + 1);
        }

        cluster.kill9(0);
        let killed = Instant::now();
        drop(held);
        let mut attempt = 0;
        loop {
            let response = cluster.chat(1 + attempt % 2, &key, &small()).await;
            if response.status() == StatusCode::OK {
                break;
            }
            let refused = error_code(response).await;
            assert_eq!(refused, (StatusCode::TOO_MANY_REQUESTS, "concurrency_limit_exceeded".into()));
            assert!(
                killed.elapsed() < EXPIRY + Duration::from_millis(1500),
                "still refused {:?} after the kill; the expiry is {EXPIRY:?}",
                killed.elapsed()
            );
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("the killed instance's slots were free {:?} after the kill", killed.elapsed());
    })
    .await
}
