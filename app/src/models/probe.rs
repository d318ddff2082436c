//! Testing a channel: one small chat request through it. The console decides what to
//! test and records it; the request itself is the gateway's business (its upstream
//! client lives in the server crate), so the console reaches it through this trait.

use super::ChannelView;
use secrecy::SecretString;

/// The channel to test, with its credential decrypted, and the model to ask for.
pub struct ProbeTarget {
    pub channel: ChannelView,
    pub credential: Option<SecretString>,
    /// The upstream's own name of one of the models the channel serves.
    pub upstream_model: String,
}

/// What the one request came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    /// The upstream's HTTP status; none when it could not be reached or timed out.
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub upstream_request_id: Option<String>,
    /// What went wrong, as a sentence; none when the upstream answered with a completion.
    pub error: Option<String>,
}

#[async_trait::async_trait]
pub trait ChannelProbe: Send + Sync {
    /// Sends one request and reports how it went; never bills or logs usage.
    async fn probe(&self, target: ProbeTarget) -> ProbeOutcome;
}
