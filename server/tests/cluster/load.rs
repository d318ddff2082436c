//! Load spread over instances round-robin, as fast as the client can send it.

use futures_util::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Outcome {
    /// Answered 200, per instance.
    pub admitted: Vec<usize>,
    /// The real tokens (`usage.total_tokens`) of the admitted answers.
    pub tokens: u64,
    /// Every other answer by status and error code.
    pub refused: BTreeMap<(u16, String), usize>,
    /// From the first request sent to the last answer read.
    pub elapsed: Duration,
}

impl Outcome {
    pub fn total(&self) -> usize {
        self.admitted.iter().sum()
    }

    /// Whole seconds the load lasted, rounded up: what a per-second refill can add.
    pub fn seconds(&self) -> usize {
        self.elapsed.as_secs_f64().ceil() as usize
    }

    /// Every refusal was `status` with `code`.
    pub fn assert_refused_only_with(&self, status: u16, code: &str) {
        let others: Vec<_> = self.refused.keys().filter(|(s, c)| (*s, c.as_str()) != (status, code)).collect();
        assert!(others.is_empty(), "unexpected answers: {self:?}");
    }
}

/// Sends `total` chat requests of `body` with `key`, request `n` to `urls[n % len]`,
/// `concurrency` at a time.
pub async fn burst(
    client: &Client,
    urls: &[String],
    key: &str,
    body: &Value,
    total: usize,
    concurrency: usize,
) -> Outcome {
    let started = Instant::now();
    let answers: Vec<(usize, StatusCode, Value)> = futures_util::stream::iter(0..total)
        .map(|n| {
            let instance = n % urls.len();
            let request =
                client.post(format!("{}/v1/chat/completions", urls[instance])).bearer_auth(key).json(body).send();
            async move {
                let response = request.await.expect("the instance answers");
                let status = response.status();
                (instance, status, response.json::<Value>().await.unwrap_or(Value::Null))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut outcome = Outcome { admitted: vec![0; urls.len()], tokens: 0, refused: BTreeMap::new(), elapsed };
    for (instance, status, body) in answers {
        if status == StatusCode::OK {
            outcome.admitted[instance] += 1;
            outcome.tokens += body["usage"]["total_tokens"].as_u64().expect("echo reports its usage");
        } else {
            let code = body["error"]["code"].as_str().unwrap_or_default().to_owned();
            *outcome.refused.entry((status.as_u16(), code)).or_default() += 1;
        }
    }
    outcome
}
