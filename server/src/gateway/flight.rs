//! One data-plane request from arrival to its usage row.
//!
//! Every request under `/v1` gets exactly one row: the handler ends the flight with
//! `reject` or `land`; a flight dropped before that (the client went away, mid-answer or
//! mid-stream) records itself as `client_closed` with the tokens delivered so far.

use super::catalog::GatewayKey;
use super::dialect::conversation::Usage;
use super::dialect::Dialect;
use super::error::GatewayError;
use super::limits::Admission;
use super::metrics;
use super::usage_writer::UsageWriter;
use app::billing::pricing::{self, Prices, Tokens};
use app::billing::reservations::Hold;
use app::models::Protocol;
use app::usage::{Attempt, UsageRecord};
use axum::response::Response;
use std::time::Instant;

/// The money a flight holds: its reservation, settled exactly once when it ends.
pub struct Charge {
    pub hold: Hold,
    pub prices: Prices,
}

/// What settling charged, and what the usage came to beyond the hold (never charged).
struct Settled {
    cost: i64,
    overrun: i64,
}

impl Charge {
    /// Charges `usage`, at most the hold: the hold is what the quota layer let the request
    /// spend, so an upstream reporting more can never take a balance or a spend cap past
    /// it. Releases the rest of the reservation.
    fn settle(self, request_id: &str, usage: Usage) -> Settled {
        let tokens = Tokens {
            prompt: usage.prompt_tokens,
            cache_read: usage.cache_read_tokens,
            cache_write: usage.cache_write_tokens,
            completion: usage.completion_tokens,
        };
        let cost = pricing::cost(&tokens, &self.prices);
        let held = self.hold.amount();
        let overrun = (cost - held).max(0);
        if overrun > 0 {
            metrics::charge_overrun(overrun);
        }
        Settled { cost: self.hold.settle(request_id, cost.min(held)), overrun }
    }
}

/// The longest route, model name and error message a usage row stores (api-contract.md):
/// a client can send a path or a model name of any length, and must not grow the log by it.
pub const MAX_STORED_ROUTE: usize = 256;
pub const MAX_STORED_MODEL: usize = 128;
pub const MAX_STORED_MESSAGE: usize = 1024;

/// `text` cut to at most `limit` bytes, on a character boundary, marked when cut.
pub fn truncated(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

pub const CLIENT_CLOSED: &str = "client_closed";
/// nginx's code for "client closed the connection": the answer was never delivered.
const CLIENT_CLOSED_STATUS: i64 = 499;

pub struct Flight {
    record: UsageRecord,
    started: Instant,
    writer: UsageWriter,
    dialect: Dialect,
    charge: Option<Charge>,
    /// The key's rate limits and concurrency slot, settled when the flight ends.
    admission: Option<Admission>,
    open: bool,
}

impl Flight {
    pub fn begin(
        writer: UsageWriter,
        route: &str,
        dialect: Dialect,
        client_ip: String,
        client_request_id: Option<String>,
    ) -> Flight {
        let record = UsageRecord {
            request_id: app::request_id::current().unwrap_or_else(app::request_id::generate),
            client_request_id,
            created_at: app::clock::now_ms(),
            route: truncated(route, MAX_STORED_ROUTE),
            client_ip: Some(client_ip),
            ..UsageRecord::default()
        };
        let record = UsageRecord { client_dialect: Some(dialect.name().to_owned()), ..record };
        Flight { record, started: Instant::now(), writer, dialect, charge: None, admission: None, open: true }
    }

    pub fn request_id(&self) -> &str {
        &self.record.request_id
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn identify(&mut self, key: &GatewayKey) {
        self.record.key_id = Some(key.id.clone());
        self.record.account_id = Some(key.account_id.clone());
    }

    pub fn set_model(&mut self, code: &str) {
        self.record.model = Some(truncated(code, MAX_STORED_MODEL));
    }

    pub fn set_stream(&mut self, stream: bool) {
        self.record.stream = stream;
    }

    pub fn attempt(&mut self, attempt: Attempt) {
        self.record.attempts.push(attempt);
    }

    /// The tokens used so far (a stream updates this as it goes).
    pub fn set_usage(&mut self, usage: Usage) {
        let count = |tokens: u64| i64::try_from(tokens).unwrap_or(i64::MAX);
        self.record.prompt_tokens = count(usage.prompt_tokens);
        self.record.cache_read_tokens = count(usage.cache_read_tokens);
        self.record.cache_write_tokens = count(usage.cache_write_tokens);
        self.record.completion_tokens = count(usage.completion_tokens);
        self.record.reasoning_tokens = count(usage.reasoning_tokens);
    }

    fn usage(&self) -> Usage {
        let tokens = |count: i64| count.max(0) as u64;
        Usage {
            prompt_tokens: tokens(self.record.prompt_tokens),
            cache_read_tokens: tokens(self.record.cache_read_tokens),
            cache_write_tokens: tokens(self.record.cache_write_tokens),
            completion_tokens: tokens(self.record.completion_tokens),
            reasoning_tokens: tokens(self.record.reasoning_tokens),
        }
    }

    /// The reservation this flight now holds.
    pub fn hold(&mut self, charge: Charge) {
        self.charge = Some(charge);
    }

    /// The rate limits this flight now holds.
    pub fn limited(&mut self, admission: Admission) {
        self.admission = Some(admission);
    }

    /// The channel that answered; its id for the request comes from the last attempt.
    pub fn served_by(&mut self, channel_id: &str, protocol: Protocol, upstream_latency_ms: i64) {
        self.record.channel_id = Some(channel_id.to_owned());
        self.record.channel_dialect = Some(protocol.as_str().to_owned());
        self.record.upstream_request_id = self.record.attempts.last().and_then(|a| a.upstream_request_id.clone());
        self.record.upstream_latency_ms = Some(upstream_latency_ms);
    }

    pub fn elapsed_ms(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    /// The upstream's stream broke after it had started; it is not retried.
    pub fn interrupted(&mut self) {
        self.record.error_code = Some("upstream_stream_interrupted".into());
        self.record.error_layer = Some("upstream".into());
        self.record.error_message = Some("The upstream's stream ended before its last event.".into());
    }

    /// Ends the flight with the contract's error and returns the response for it. A
    /// refused request reached no model: its reservation is released, nothing charged.
    pub fn reject(mut self, error: &GatewayError) -> Response {
        let response = self.refuse(error);
        self.finish();
        response
    }

    /// Refuses a request the gateway has no room for: counted in the metrics but not
    /// logged, since its row would add to the very backlog it is refused for.
    pub fn shed(mut self, error: &GatewayError) -> Response {
        let response = self.refuse(error);
        self.close();
        response
    }

    fn refuse(&mut self, error: &GatewayError) -> Response {
        if let Some(charge) = self.charge.take() {
            charge.settle(&self.record.request_id, Usage::default());
        }
        self.record.status = i64::from(error.status());
        self.record.error_code = error.code().map(str::to_owned);
        self.record.error_layer = Some(error.layer().as_str().to_owned());
        self.record.error_message = Some(truncated(&error.to_string(), MAX_STORED_MESSAGE));
        let mut response = error.render(self.dialect, &self.record.request_id);
        if let Some(admission) = &self.admission {
            response.headers_mut().extend(admission.headers());
        }
        response
    }

    /// Ends the flight as answered with `status`, charging what was used.
    pub fn land(mut self, status: u16) {
        if let Some(charge) = self.charge.take() {
            self.charged(charge);
        }
        self.record.status = i64::from(status);
        self.finish();
    }

    fn charged(&mut self, charge: Charge) {
        let settled = charge.settle(&self.record.request_id, self.usage());
        self.record.cost = settled.cost;
        self.record.overrun = settled.overrun;
    }

    fn finish(&mut self) {
        let record = self.close();
        self.writer.record(record);
    }

    /// Ends the flight in the metrics, settling its rate limits; returns its usage row.
    fn close(&mut self) -> UsageRecord {
        if let Some(admission) = self.admission.take() {
            let usage = self.usage();
            admission.settle(usage.input_total() + usage.completion_tokens);
        }
        self.record.latency_ms = self.elapsed_ms();
        metrics::request_finished(&self.record);
        self.open = false;
        std::mem::take(&mut self.record)
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if self.open {
            self.record.status = CLIENT_CLOSED_STATUS;
            self.record.error_code = Some(CLIENT_CLOSED.to_owned());
            self.record.error_layer = Some("request".to_owned());
            self.record.error_message = Some("The client closed the connection before the answer was complete.".into());
            // Charge what was delivered (never zero for tokens produced), then log.
            if let Some(charge) = self.charge.take() {
                self.charged(charge);
            }
            self.finish();
        }
    }
}
