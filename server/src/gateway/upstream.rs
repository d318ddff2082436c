//! Calling upstream channels: the body in the channel's dialect (the client's own when
//! they match), failing over on connect errors, timeouts and 5xx, passing 4xx through,
//! and recording every attempt.

use super::catalog::{CatalogModel, Channel, Endpoint, Target};
use super::dialect::conversation::{Request as Conversation, StreamEvent, Usage};
use super::dialect::{Dialect, Outgoing};
use super::echo;
use super::error::{GatewayError, UpstreamRefusal};
use super::flight::Flight;
use super::redact::redact;
use super::request::ClientRequest;
use super::Gateway;
use crate::http::client::{self, CallError, HttpClient};
use app::models::Protocol;
use app::usage::Attempt;
use axum::http::{HeaderMap, HeaderName};
use bytes::Bytes;
use secrecy::ExposeSecret;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Instant;

/// What the chosen channel answered.
pub enum Answer {
    /// A whole answer, already in the client's dialect.
    Whole { body: Bytes, usage: Option<Usage> },
    /// An upstream SSE stream still to be relayed, in the channel's dialect.
    Stream { response: client::Response, channel: Dialect },
    /// Events produced locally (the echo provider).
    Local { events: Vec<StreamEvent> },
}

pub struct Served {
    pub answer: Answer,
    pub channel_id: String,
    pub protocol: Protocol,
    pub upstream_latency_ms: i64,
    /// The upstream's retry and rate-limit headers, for the client.
    pub relayed: HeaderMap,
}

/// What the client asked for, besides the body.
pub struct Call<'a> {
    pub client: Dialect,
    pub endpoint: Endpoint,
    /// The client's headers, for those forwarded to a channel of its own dialect.
    pub headers: &'a HeaderMap,
    /// The client's conversation on the hub, decoded on first need: a request that only
    /// ever passes through is never decoded.
    conversation: OnceLock<Result<Conversation, GatewayError>>,
}

impl<'a> Call<'a> {
    pub fn new(client: Dialect, endpoint: Endpoint, headers: &'a HeaderMap) -> Call<'a> {
        Call { client, endpoint, headers, conversation: OnceLock::new() }
    }

    pub fn conversation(&self, request: &ClientRequest) -> Result<&Conversation, GatewayError> {
        self.conversation
            .get_or_init(|| {
                let conversation = self.client.decode_request(request.body()?)?;
                Ok(Conversation { stream: request.stream, ..conversation })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The tool offers a translation left out (none when the request passed through).
    pub fn omitted(&self) -> &[String] {
        match self.conversation.get() {
            Some(Ok(conversation)) => &conversation.omitted,
            _ => &[],
        }
    }
}

enum Failure {
    /// Try the next channel.
    Retry { timed_out: bool },
    /// The upstream refused the request itself (or it cannot be sent): answer the client.
    Final(GatewayError),
}

pub async fn serve(
    gateway: &Gateway,
    flight: &mut Flight,
    request: &ClientRequest,
    call: &Call<'_>,
    model: &CatalogModel,
    plan: Vec<Target>,
) -> Result<Served, GatewayError> {
    let attempts = plan.len();
    let mut all_timed_out = true;
    for target in plan {
        let started = Instant::now();
        match attempt(gateway, flight, request, call, model, &target).await {
            Ok((answer, relayed)) => {
                gateway.health.record(&target.channel.id, true);
                return Ok(Served {
                    answer,
                    channel_id: target.channel.id.clone(),
                    protocol: target.channel.protocol,
                    upstream_latency_ms: started.elapsed().as_millis() as i64,
                    relayed,
                });
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

/// The body to send: the client's own (model renamed) when the dialects match, else
/// translated through the hub.
fn upstream_body<'a>(
    request: &'a ClientRequest,
    call: &Call<'_>,
    model: &CatalogModel,
    target: &Target,
    channel: Dialect,
) -> Result<UpstreamBody<'a>, GatewayError> {
    let default_max_tokens = model.view.default_max_tokens.max(1) as u64;
    if channel != call.client {
        let outgoing = Outgoing { model: &target.upstream_model, default_max_tokens };
        return Ok(UpstreamBody::Translated(channel.encode_request(call.conversation(request)?, &outgoing)?));
    }
    let fields = request.fields()?;
    let mut set = Vec::with_capacity(2);
    // Gemini names the model in the path, not the body.
    if channel != Dialect::Gemini {
        set.push(("model", Value::from(target.upstream_model.as_str())));
    }
    match (channel, call.endpoint) {
        (Dialect::Chat, Endpoint::Generate { stream: true }) => {
            set.push(("stream_options", stream_options_with_usage(&fields)));
        }
        (Dialect::Anthropic, Endpoint::Generate { .. }) if !fields.iter().any(|(name, _)| name == "max_tokens") => {
            set.push(("max_tokens", default_max_tokens.into()));
        }
        _ => {}
    }
    Ok(UpstreamBody::Forwarded { fields, set })
}

/// The client's `stream_options` with `include_usage` on, so the stream can be charged.
fn stream_options_with_usage(fields: &[Field<'_>]) -> Value {
    let sent = fields.iter().rev().find(|(name, _)| name == "stream_options");
    let mut options: Map<String, Value> =
        sent.and_then(|(_, raw)| serde_json::from_str(raw.get()).ok()).unwrap_or_default();
    options.insert("include_usage".into(), Value::Bool(true));
    Value::Object(options)
}

/// A top-level field of the client's body: its name, and its value as sent.
type Field<'a> = (Cow<'a, str>, &'a RawValue);

/// A request body for an upstream.
pub(super) enum UpstreamBody<'a> {
    /// The client's body as sent, but the fields of `set` (replaced, or added when absent):
    /// every other field is written as the bytes the client sent.
    Forwarded { fields: Vec<Field<'a>>, set: Vec<(&'static str, Value)> },
    /// Rebuilt in the upstream's dialect.
    Translated(Value),
}

impl Serialize for UpstreamBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (fields, set) = match self {
            UpstreamBody::Translated(value) => return value.serialize(serializer),
            UpstreamBody::Forwarded { fields, set } => (fields, set),
        };
        let replacement = |name: &str| set.iter().find(|(field, _)| *field == name).map(|(_, value)| value);
        let mut map = serializer.serialize_map(None)?;
        for (name, raw) in fields {
            match replacement(name) {
                Some(value) => map.serialize_entry(name, value)?,
                None => map.serialize_entry(name, raw)?,
            }
        }
        let sent = |name: &str| fields.iter().any(|(field, _)| field == name);
        for (name, value) in set.iter().filter(|(name, _)| !sent(name)) {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// The echo provider's answer, in the client's dialect.
fn echo_answer(
    flight: &Flight,
    request: &ClientRequest,
    call: &Call<'_>,
    model: &CatalogModel,
) -> Result<Answer, GatewayError> {
    if call.endpoint == Endpoint::Embeddings {
        let (body, usage) = super::embeddings::echo(request)?;
        return Ok(Answer::Whole { body, usage: Some(usage) });
    }
    let conversation = call.conversation(request)?;
    if request.stream {
        return Ok(Answer::Local { events: echo::events(conversation, super::output_cap(request, model)) });
    }
    let cap = super::output_cap(request, model);
    let reply = echo::reply(conversation, cap, call.client.answer_id(flight.request_id()), model.view.code.clone());
    Ok(Answer::Whole { usage: reply.usage, body: Bytes::from(call.client.encode_response(&reply).to_string()) })
}

async fn attempt(
    gateway: &Gateway,
    flight: &mut Flight,
    request: &ClientRequest,
    call: &Call<'_>,
    model: &CatalogModel,
    target: &Target,
) -> Result<(Answer, HeaderMap), Failure> {
    let channel = &target.channel;
    let Some(dialect) = Dialect::of(channel.protocol) else {
        let answer = echo_answer(flight, request, call, model).map_err(Failure::Final)?;
        flight.attempt(Attempt {
            channel_id: channel.id.clone(),
            status: Some(200),
            latency_ms: 0,
            upstream_request_id: None,
            error: None,
        });
        return Ok((answer, HeaderMap::new()));
    };
    let body = upstream_body(request, call, model, target, dialect).map_err(Failure::Final)?;
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
    let forwarded = if dialect == Dialect::Anthropic && call.client == Dialect::Anthropic {
        anthropic_headers(call.headers)
    } else {
        Vec::new()
    };
    let sent = send(&gateway.http, channel, call.endpoint, &target.upstream_model, &forwarded, &body);
    let response = match tokio::time::timeout(channel.timeout, sent).await {
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
    let relayed = relayed_headers(response.headers());
    if request.stream && status < 300 {
        record(flight, Some(status), upstream_request_id, None);
        return Ok((Answer::Stream { response, channel: dialect }, relayed));
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
        return Err(Failure::Final(upstream_refusal(channel, status, &bytes, relayed)));
    }
    let answer = whole_answer(flight, call, dialect, model, bytes).map_err(Failure::Final)?;
    Ok((answer, relayed))
}

/// `anthropic-version` and every `anthropic-beta` value, as the client sent them: beta
/// values pair with body fields, and a stripped one turns into the upstream's 400.
fn anthropic_headers(headers: &HeaderMap) -> Vec<(HeaderName, axum::http::HeaderValue)> {
    ["anthropic-version", "anthropic-beta"]
        .into_iter()
        .flat_map(|name| headers.get_all(name).iter().map(move |value| (HeaderName::from_static(name), value.clone())))
        .collect()
}

/// The headers clients read to pace their retries (api-contract.md, "Dialects and translation").
fn relayed_headers(upstream: &HeaderMap) -> HeaderMap {
    let relayed = |name: &str| {
        matches!(name, "retry-after" | "retry-after-ms" | "x-should-retry")
            || name.starts_with("x-ratelimit-")
            || name.starts_with("anthropic-ratelimit-")
    };
    upstream
        .iter()
        .filter(|(name, _)| relayed(name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// Sends `body` to `endpoint` of `channel` with its credential, and `extra` headers that
/// replace the channel's own of the same name (the probe uses this too).
pub(super) async fn send(
    http: &HttpClient,
    channel: &Channel,
    endpoint: Endpoint,
    upstream_model: &str,
    extra: &[(HeaderName, axum::http::HeaderValue)],
    body: &impl Serialize,
) -> Result<client::Response, CallError> {
    let call = channel.call.as_ref().ok_or(CallError::UnusableChannel)?;
    let uri = call.uri(channel.protocol, endpoint, upstream_model).ok_or(CallError::UnusableChannel)?;
    let body = serde_json::to_vec(body).map_err(|_| CallError::Transport)?;
    let mut request = client::post_json(uri, body);
    let headers = request.headers_mut();
    for (name, value) in &call.headers {
        headers.insert(name, value.clone());
    }
    for (name, _) in extra {
        headers.remove(name);
    }
    for (name, value) in extra {
        headers.append(name, value.clone());
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

/// The upstream's 4xx, keeping its status, type, code and message (with any credential
/// taken out). OpenAI and Anthropic name a `type` (and OpenAI a `code`); Google a `status`.
pub(super) fn upstream_refusal(channel: &Channel, status: u16, body: &[u8], relayed: HeaderMap) -> GatewayError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = value.get("error").unwrap_or(&Value::Null);
    let credential = channel.credential.as_ref().map(ExposeSecret::expose_secret);
    let text = |field: &str| error.get(field).and_then(Value::as_str).map(|text| redact(text, credential));
    GatewayError::Upstream(Box::new(UpstreamRefusal {
        status,
        error_type: text("type").unwrap_or_else(|| type_for_status(status).to_owned()),
        code: text("code").or_else(|| text("type")).or_else(|| text("status")),
        message: text("message").unwrap_or_else(|| format!("The upstream refused the request with status {status}.")),
        relayed,
    }))
}

/// OpenAI's error type for an upstream status that came without one.
fn type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        _ => "invalid_request_error",
    }
}

/// An upstream's whole answer for the client: untouched when the dialects match.
fn whole_answer(
    flight: &Flight,
    call: &Call<'_>,
    channel: Dialect,
    model: &CatalogModel,
    bytes: Bytes,
) -> Result<Answer, GatewayError> {
    let unreadable = |_| GatewayError::UpstreamFailed { attempts: 1 };
    if !matches!(call.endpoint, Endpoint::Generate { .. }) {
        // Counting and embeddings only ever go to a channel of the client's dialect, and
        // their handlers read what the answer says.
        return Ok(Answer::Whole { body: bytes, usage: None });
    }
    if channel == call.client {
        let usage = channel.usage_in(&bytes).map_err(unreadable)?;
        return Ok(Answer::Whole { body: bytes, usage });
    }
    let mut answer = channel.decode_response(&bytes).map_err(unreadable)?;
    answer.id = call.client.answer_id(flight.request_id());
    answer.model = model.view.code.clone();
    let body = Bytes::from(call.client.encode_response(&answer).to_string());
    Ok(Answer::Whole { body, usage: answer.usage })
}
