//! Usage logs: one row per data-plane request, success or rejection, keyed by the
//! gateway's request id, so support can tell from one id which layer failed and why.

#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

use serde::{Deserialize, Serialize};

/// One try of one upstream channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub channel_id: String,
    /// The upstream's HTTP status; `None` when it never answered (connect error, timeout).
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub upstream_request_id: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub request_id: String,
    pub client_request_id: Option<String>,
    /// UTC unix milliseconds.
    pub created_at: i64,
    pub route: String,
    pub account_id: Option<String>,
    pub key_id: Option<String>,
    pub model: Option<String>,
    pub status: i64,
    pub error_code: Option<String>,
    pub error_layer: Option<String>,
    pub error_message: Option<String>,
    pub latency_ms: i64,
    pub upstream_latency_ms: Option<i64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// Micro-units charged.
    pub cost: i64,
    pub client_ip: Option<String>,
    pub channel_id: Option<String>,
    pub upstream_request_id: Option<String>,
    pub attempts: Vec<Attempt>,
    pub stream: bool,
}

/// Filters of the usage list; every one optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageFilter {
    pub key: Option<String>,
    pub model: Option<String>,
    /// An exact status (`429`) or a class (`4xx`).
    pub status: Option<String>,
    pub error_code: Option<String>,
    /// UTC unix milliseconds, inclusive.
    pub from: Option<i64>,
    /// UTC unix milliseconds, exclusive.
    pub to: Option<i64>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsagePage {
    pub rows: Vec<UsageRecord>,
    /// Pass as `cursor` for the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}
