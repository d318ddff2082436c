//! The memory benchmark (`make bench-memory`): Tollgate's peak resident memory while it
//! reads [`CONCURRENT`] bodies of [`MESSAGES`] messages each (about 3.4 MB) at once,
//! against its resident memory at rest. With the default caps every body is refused as
//! too complex; `BENCH_MESSAGE_CAP` raises the cap so the bodies are read through to the
//! upstream. The target is a peak under [`TARGET_MIB`].

use crate::error::BenchError;
use crate::process::Child;
use crate::report::write_json;
use crate::setup::MODEL;
use bytes::Bytes;
use reqwest::Client;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

pub const CONCURRENT: usize = 32;
pub const MESSAGES: usize = 100_000;
/// Bursts of [`CONCURRENT`] bodies, one after the other.
const ROUNDS: usize = 3;
const TARGET_MIB: f64 = 300.0;
/// What the server settles to after start-up before its resting memory is read.
const SETTLE: Duration = Duration::from_secs(1);

#[derive(Debug, Serialize)]
pub struct Report {
    pub concurrent: usize,
    pub messages: usize,
    pub body_bytes: usize,
    /// The server's message cap (`None`: its default).
    pub message_cap: Option<u64>,
    pub idle_rss_mib: f64,
    pub peak_rss_mib: f64,
    pub target_mib: f64,
    /// How many answers of each status the bodies got.
    pub statuses: BTreeMap<u16, usize>,
    /// Seconds each burst took.
    pub bursts: Vec<f64>,
}

impl Report {
    pub fn print(&self) {
        println!(
            "\nTollgate memory: {} concurrent bodies of {} messages ({:.1} MB each)",
            self.concurrent,
            self.messages,
            self.body_bytes as f64 / 1e6
        );
        let cap = self.message_cap.map_or("default".to_owned(), |cap| cap.to_string());
        println!("message cap {cap}; answers by status {:?}; bursts took {:?} s", self.statuses, self.bursts);
        let verdict = if self.peak_rss_mib < self.target_mib { "under" } else { "OVER" };
        println!(
            "resident: {:.0} MiB at rest, {:.0} MiB at peak ({verdict} the {:.0} MiB target)",
            self.idle_rss_mib, self.peak_rss_mib, self.target_mib
        );
    }

    pub fn write_json(&self, path: &Path) -> Result<(), BenchError> {
        write_json(self, path)
    }
}

pub async fn measure(
    tollgate: &mut Child,
    gateway: &str,
    key: &str,
    message_cap: Option<u64>,
) -> Result<Report, BenchError> {
    tokio::time::sleep(SETTLE).await;
    let kib = |value: Option<u64>| value.map_or(0.0, |kib| kib as f64 / 1024.0);
    let idle_rss_mib = kib(tollgate.rss_kib());
    tollgate.reset_peak_rss();
    let body = many_messages();
    let client = Client::builder().timeout(Duration::from_secs(60)).build().expect("the client settings are valid");
    let url = format!("{gateway}/v1/chat/completions");
    let mut statuses = BTreeMap::new();
    let mut bursts = Vec::new();
    for round in 1..=ROUNDS {
        eprintln!("burst {round} of {CONCURRENT} bodies ...");
        let started = Instant::now();
        let sent = (0..CONCURRENT).map(|_| {
            let request = client.post(&url).bearer_auth(key).header("content-type", "application/json");
            let request = request.body(body.clone()).send();
            async move {
                let response = request.await.ok()?;
                let status = response.status().as_u16();
                response.bytes().await.ok().map(|_| status)
            }
        });
        for status in futures_util::future::join_all(sent).await {
            // 0: the request failed without an answer.
            *statuses.entry(status.unwrap_or(0)).or_insert(0) += 1;
        }
        bursts.push(started.elapsed().as_secs_f64());
        tollgate.ensure_running()?;
    }
    Ok(Report {
        concurrent: CONCURRENT,
        messages: MESSAGES,
        body_bytes: body.len(),
        message_cap,
        idle_rss_mib,
        peak_rss_mib: kib(tollgate.peak_rss_kib()),
        target_mib: TARGET_MIB,
        statuses,
        bursts,
    })
}

/// A Chat body of [`MESSAGES`] short messages.
fn many_messages() -> Bytes {
    let message = r#"{"role":"user","content":"hello"}"#;
    let mut body = format!(r#"{{"model":"{MODEL}","max_tokens":16,"messages":["#);
    body.push_str(&vec![message; MESSAGES].join(","));
    body.push_str("]}");
    Bytes::from(body)
}
