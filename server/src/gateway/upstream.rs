//! Calling upstream channels: building each protocol's request, failing over on connect
//! errors, timeouts and 5xx, passing 4xx through, and recording every attempt.

use super::catalog::{CatalogModel, Channel, Target};
use super::error::GatewayError;
use super::flight::Flight;
use super::protocol::{anthropic, echo, openai, Completion, Conversation, Dialect, StreamEvent, Usage};
use super::request::ClientRequest;
use super::Gateway;
use crate::http::client::{self, CallError, HttpClient};
use app::models::Protocol;
use app::usage::Attempt;
use bytes::Bytes;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use std::time::Instant;

/// What the chosen channel answered.
pub enum Answer {
    /// A whole answer, already in the client's dialect.
    Whole { body: Bytes, usage: Option<Usage> },
    /// An upstream SSE stream still to be relayed.
    Stream { response: client::Response, protocol: Protocol },
    /// Events produced locally (the echo provider).
    Local { events: Vec<StreamEvent> },
}

pub struct Served {
    pub answer: Answer,
    pub channel_id: String,
    pub upstream_latency_ms: i64,
}

enum Failure {
    /// Try the next channel.
    Retry { timed_out: bool },
    /// The upstream refused the request itself: answer the client with it.
    Final(GatewayError),
}

pub async fn serve(
    gateway: &Gateway,
    flight: &mut Flight,
    request: &ClientRequest,
    model: &CatalogModel,
    plan: Vec<Target>,
) -> Result<Served, GatewayError> {
    let attempts = plan.len();
    let mut all_timed_out = true;
    for target in plan {
        let started = Instant::now();
        match attempt(gateway, flight, request, model, &target).await {
            Ok(answer) => {
                gateway.health.record(&target.channel.id, true);
                let upstream_latency_ms = started.elapsed().as_millis() as i64;
                return Ok(Served { answer, channel_id: target.channel.id.clone(), upstream_latency_ms });
            }
            Err(Failure::Final(error)) => {
                gateway.health.record(&target.channel.id, true);
                return Err(error);
            }
            Err(Failure::Retry { timed_out }) => {
                gateway.health.record(&target.channel.id, false);
                super::metrics::failover(&target.channel.id);
                all_timed_out &= timed_out;
            }
        }
    }
    if all_timed_out {
        let timeout_ms = model.targets.iter().map(|t| t.channel.timeout.as_millis() as i64).max().unwrap_or_default();
        Err(GatewayError::UpstreamTimeout { timeout_ms })
    } else {
        Err(GatewayError::UpstreamFailed { attempts })
    }
}

fn conversation(request: &ClientRequest, dialect: Dialect) -> Result<Conversation, GatewayError> {
    match dialect {
        Dialect::OpenAi => openai::conversation(&request.body),
        Dialect::Anthropic => anthropic::conversation(&request.body),
    }
}

/// The body to send: the client's own (model renamed) when protocols match, else translated.
fn upstream_body<'a>(
    request: &'a ClientRequest,
    dialect: Dialect,
    model: &CatalogModel,
    target: &Target,
) -> Result<UpstreamBody<'a>, GatewayError> {
    let protocol = target.channel.protocol;
    let default_max = model.view.default_max_tokens.max(1) as u64;
    let renamed = ("model", Value::from(target.upstream_model.as_str()));
    match (dialect, protocol) {
        (Dialect::OpenAi, Protocol::Openai) => {
            let mut set = vec![renamed];
            if request.stream {
                set.push(("stream_options", openai::stream_options_with_usage(&request.body)));
            }
            Ok(UpstreamBody::Forwarded { body: &request.body, set })
        }
        (Dialect::Anthropic, Protocol::Anthropic) => {
            let mut set = vec![renamed];
            if !request.body.contains_key("max_tokens") {
                set.push(("max_tokens", default_max.into()));
            }
            Ok(UpstreamBody::Forwarded { body: &request.body, set })
        }
        (dialect, Protocol::Openai) => {
            Ok(UpstreamBody::Translated(openai::request_body(&conversation(request, dialect)?, &target.upstream_model)))
        }
        (dialect, Protocol::Anthropic) => Ok(UpstreamBody::Translated(anthropic::request_body(
            &conversation(request, dialect)?,
            &target.upstream_model,
            default_max,
        ))),
        (_, Protocol::Echo) => Err(GatewayError::Internal),
    }
}

/// A request body for an upstream.
enum UpstreamBody<'a> {
    /// The client's body as sent, but the fields of `set` (replaced, or added when absent):
    /// written straight from the parsed request rather than from a copy of it.
    Forwarded { body: &'a Map<String, Value>, set: Vec<(&'static str, Value)> },
    /// Rebuilt in the upstream's protocol.
    Translated(Value),
}

impl Serialize for UpstreamBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (body, set) = match self {
            UpstreamBody::Translated(value) => return value.serialize(serializer),
            UpstreamBody::Forwarded { body, set } => (body, set),
        };
        let replacement = |name: &str| set.iter().find(|(field, _)| *field == name).map(|(_, value)| value);
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in body.iter() {
            map.serialize_entry(name, replacement(name).unwrap_or(value))?;
        }
        for (name, value) in set.iter().filter(|(name, _)| !body.contains_key(*name)) {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

async fn attempt(
    gateway: &Gateway,
    flight: &mut Flight,
    request: &ClientRequest,
    model: &CatalogModel,
    target: &Target,
) -> Result<Answer, Failure> {
    let dialect = flight.dialect();
    let channel = &target.channel;
    if channel.protocol == Protocol::Echo {
        let conversation = conversation(request, dialect).map_err(Failure::Final)?;
        flight.attempt(Attempt {
            channel_id: channel.id.clone(),
            status: Some(200),
            latency_ms: 0,
            upstream_request_id: None,
            error: None,
        });
        return Ok(if request.stream {
            Answer::Local { events: echo::stream(&conversation) }
        } else {
            let mut reply = echo::reply(&conversation);
            reply.id = format!("echo-{}", flight.request_id());
            reply.model = model.view.code.clone();
            Answer::Whole { usage: reply.usage, body: render(dialect, &reply) }
        });
    }
    let body = upstream_body(request, dialect, model, target).map_err(Failure::Final)?;
    let started = Instant::now();
    let record =
        |flight: &mut Flight, status: Option<u16>, upstream_request_id: Option<String>, error: Option<String>| {
            flight.attempt(Attempt {
                channel_id: channel.id.clone(),
                status,
                latency_ms: started.elapsed().as_millis() as i64,
                upstream_request_id,
                error,
            })
        };
    let call = send(&gateway.http, channel, &body);
    let response = match tokio::time::timeout(channel.timeout, call).await {
        Err(_) => {
            record(flight, None, None, Some(CallError::Timeout.to_string()));
            return Err(Failure::Retry { timed_out: true });
        }
        Ok(Err(err)) => {
            record(flight, None, None, Some(err.to_string()));
            return Err(Failure::Retry { timed_out: err == CallError::Timeout });
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    let upstream_request_id = upstream_request_id(&response);
    if status >= 500 {
        record(flight, Some(status), upstream_request_id, Some("upstream server error".into()));
        return Err(Failure::Retry { timed_out: false });
    }
    if request.stream && status < 300 {
        record(flight, Some(status), upstream_request_id, None);
        return Ok(Answer::Stream { response, protocol: channel.protocol });
    }
    let remaining = channel.timeout.saturating_sub(started.elapsed());
    let bytes = match tokio::time::timeout(remaining, client::read_body(response)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(err)) => {
            record(flight, Some(status), upstream_request_id, Some(err.to_string()));
            return Err(Failure::Retry { timed_out: false });
        }
        Err(_) => {
            record(flight, Some(status), upstream_request_id, Some("timeout reading the body".into()));
            return Err(Failure::Retry { timed_out: true });
        }
    };
    record(flight, Some(status), upstream_request_id, None);
    if status >= 400 {
        return Err(Failure::Final(upstream_refusal(status, &bytes)));
    }
    whole_answer(dialect, channel.protocol, bytes).map_err(Failure::Final)
}

/// Sends `body` to `channel` in its protocol, with its credential (the probe uses it too).
pub(super) async fn send(
    http: &HttpClient,
    channel: &Channel,
    body: &impl Serialize,
) -> Result<client::Response, CallError> {
    let call = channel.call.as_ref().ok_or(CallError::UnusableChannel)?;
    let body = serde_json::to_vec(body).map_err(|_| CallError::Transport)?;
    let mut request = client::post_json(call.uri.clone(), body);
    for (name, value) in &call.headers {
        request.headers_mut().insert(name, value.clone());
    }
    tracing::debug!(channel = %channel.id, "calling upstream");
    http.send(request).await
}

pub(super) fn upstream_request_id(response: &client::Response) -> Option<String> {
    ["x-request-id", "request-id"]
        .iter()
        .find_map(|name| response.headers().get(*name))
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The upstream's 4xx, keeping its status, type, code and message.
pub(super) fn upstream_refusal(status: u16, body: &[u8]) -> GatewayError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = value.get("error").unwrap_or(&Value::Null);
    let text = |field: &str| error.get(field).and_then(Value::as_str).map(str::to_owned);
    GatewayError::Upstream {
        status,
        error_type: text("type").unwrap_or_else(|| "invalid_request_error".to_owned()),
        code: text("code").or_else(|| text("type")),
        message: text("message").unwrap_or_else(|| format!("The upstream refused the request with status {status}.")),
    }
}

fn render(dialect: Dialect, completion: &Completion) -> Bytes {
    Bytes::from(super::protocol::render_completion(dialect, completion).to_string())
}

/// An upstream's whole answer for the client: untouched when the protocols match.
fn whole_answer(dialect: Dialect, protocol: Protocol, bytes: Bytes) -> Result<Answer, GatewayError> {
    let unreadable = |_| GatewayError::UpstreamFailed { attempts: 1 };
    if dialect.passes_through_to(protocol) {
        let usage = super::protocol::usage_in(&bytes).map_err(unreadable)?;
        return Ok(Answer::Whole { body: bytes, usage });
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(unreadable)?;
    let completion = match protocol {
        Protocol::Anthropic => anthropic::completion(&value),
        _ => openai::completion(&value),
    };
    Ok(Answer::Whole { body: render(dialect, &completion), usage: completion.usage })
}
