//! A channel's test from the console: one small chat request through the channel, built
//! and sent by the same code as the data plane's (`upstream::send`), but outside its
//! pipeline: nothing is reserved, charged or written to the usage log, and the channel's
//! health is left alone. The console audits the test.

use super::catalog::{Channel, Endpoint};
use super::dialect::conversation::{Message, Part, Request, Role};
use super::dialect::{Dialect, Outgoing};
use super::error::GatewayError;
use super::upstream;
use crate::http::client::{self, CallError, HttpClient};
use app::models::probe::{ChannelProbe, ProbeOutcome, ProbeTarget};
use serde_json::Value;
use std::time::Instant;

/// Short, so a test costs the provider next to nothing.
const PROMPT: &str = "Reply with the single word OK.";
const MAX_TOKENS: u64 = 8;

/// Sends test requests with its own HTTP client, apart from the gateway's connection pool.
#[derive(Default)]
pub struct UpstreamProbe {
    http: HttpClient,
}

#[async_trait::async_trait]
impl ChannelProbe for UpstreamProbe {
    async fn probe(&self, target: ProbeTarget) -> ProbeOutcome {
        let channel = Channel::new(target.channel, target.credential);
        // Echo answers locally, as in the data plane: reaching it is all there is to test.
        let Some(dialect) = Dialect::of(channel.protocol) else {
            return ProbeOutcome { status: Some(200), latency_ms: 0, upstream_request_id: None, error: None };
        };
        let request = Request {
            messages: vec![Message { role: Role::User, parts: vec![Part::Text(PROMPT.to_owned())] }],
            max_tokens: Some(MAX_TOKENS),
            ..Request::default()
        };
        let outgoing = Outgoing { model: &target.upstream_model, default_max_tokens: MAX_TOKENS };
        match dialect.encode_request(&request, &outgoing) {
            Ok(body) => self.send(&channel, &target.upstream_model, &body).await,
            Err(error) => {
                ProbeOutcome { status: None, latency_ms: 0, upstream_request_id: None, error: Some(error.to_string()) }
            }
        }
    }
}

impl UpstreamProbe {
    async fn send(&self, channel: &Channel, upstream_model: &str, body: &Value) -> ProbeOutcome {
        let started = Instant::now();
        let timed_out = || GatewayError::UpstreamTimeout { timeout_ms: channel.timeout.as_millis() as i64 }.to_string();
        let unreachable = |err: CallError| format!("The upstream could not be reached ({err}).");
        let endpoint = Endpoint::Generate { stream: false };
        let call = upstream::send(&self.http, channel, endpoint, upstream_model, &[], body);
        let response = match tokio::time::timeout(channel.timeout, call).await {
            Ok(Ok(response)) => response,
            failed => {
                let error = match failed {
                    Ok(Err(err)) => unreachable(err),
                    _ => timed_out(),
                };
                let latency_ms = started.elapsed().as_millis() as i64;
                return ProbeOutcome { status: None, latency_ms, upstream_request_id: None, error: Some(error) };
            }
        };
        let status = response.status().as_u16();
        let upstream_request_id = upstream::upstream_request_id(&response);
        let remaining = channel.timeout.saturating_sub(started.elapsed());
        let error = match tokio::time::timeout(remaining, client::read_body(response)).await {
            Err(_) => Some(timed_out()),
            Ok(Err(err)) => Some(unreachable(err)),
            Ok(Ok(bytes)) if status >= 400 => {
                Some(upstream::upstream_refusal(channel, status, &bytes, Default::default()).to_string())
            }
            Ok(Ok(bytes)) => serde_json::from_slice::<Value>(&bytes)
                .is_err()
                .then(|| format!("The upstream answered with status {status}, but not with JSON.")),
        };
        let latency_ms = started.elapsed().as_millis() as i64;
        ProbeOutcome { status: Some(status), latency_ms, upstream_request_id, error }
    }
}
