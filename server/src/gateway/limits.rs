//! A key's requests-per-minute, tokens-per-minute and concurrency limits, taken in one
//! step from the limiter (`app::limits`: in this process, or in Redis for all instances).
//!
//! Tokens are held from the request's upper bound (prompt bytes plus its output cap) and
//! settled with the tokens really used when the answer ends; the concurrency slot is
//! freed then too, or when the client goes away.

use super::catalog::GatewayKey;
use super::error::GatewayError;
use app::limits::{Budget, Demand, Limiter, Refusal, Slots, Standing, Ticket};
use axum::http::{HeaderMap, HeaderName};

/// What a budget of the demand counts, in the order the demand lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counts {
    Requests,
    Tokens,
}

impl Counts {
    fn limit_name(self) -> &'static str {
        match self {
            Counts::Requests => "requests-per-minute",
            Counts::Tokens => "tokens-per-minute",
        }
    }

    /// The suffix of OpenAI's `x-ratelimit-*` headers.
    fn header_suffix(self) -> &'static str {
        match self {
            Counts::Requests => "requests",
            Counts::Tokens => "tokens",
        }
    }
}

/// The key's limits held for one request; settle with the tokens used.
pub struct Admission {
    ticket: Option<Ticket>,
    counts: Vec<Counts>,
}

fn per_minute(limit: Option<i64>) -> Option<u64> {
    limit.and_then(|limit| u64::try_from(limit).ok()).filter(|limit| *limit > 0)
}

fn demand(key: &GatewayKey, request_id: &str, tokens: u64) -> (Demand, Vec<Counts>) {
    let mut demand = Demand::default();
    let mut counts = Vec::new();
    let mut add = |what: Counts, limit: Option<i64>, units: u64| {
        if let Some(per_minute) = per_minute(limit) {
            let name = format!("key:{{{}}}:{}", key.id, what.header_suffix());
            demand.budgets.push(Budget { name, per_minute, units });
            counts.push(what);
        }
    };
    add(Counts::Requests, key.policy.rpm, 1);
    add(Counts::Tokens, key.policy.tpm, tokens);
    demand.slots = per_minute(key.policy.max_concurrency).map(|limit| Slots {
        name: format!("key:{{{}}}:in-flight", key.id),
        limit,
        member: request_id.to_owned(),
    });
    (demand, counts)
}

/// Admits one request of at most `tokens` tokens, or says which limit refused it and when
/// to retry.
pub async fn admit(
    limiter: &Limiter,
    key: &GatewayKey,
    request_id: &str,
    tokens: u64,
) -> Result<Admission, GatewayError> {
    let (demand, counts) = demand(key, request_id, tokens);
    if demand.budgets.is_empty() && demand.slots.is_none() {
        return Ok(Admission { ticket: None, counts });
    }
    let limits: Vec<u64> = demand.budgets.iter().map(|budget| budget.per_minute).collect();
    match limiter.admit(demand).await {
        Ok(ticket) => Ok(Admission { ticket: Some(ticket), counts }),
        Err(Refusal::Budget { index, retry_after_ms }) => Err(GatewayError::RateLimited {
            prefix: key.prefix.clone(),
            limit: counts[index].limit_name(),
            per_minute: limits[index],
            retry_after: retry_after_ms.div_ceil(1_000).max(1),
        }),
        Err(Refusal::Slots) => Err(GatewayError::ConcurrencyLimited { prefix: key.prefix.clone(), retry_after: 1 }),
        Err(Refusal::Unavailable) => Err(GatewayError::RateLimiterUnavailable),
    }
}

impl Admission {
    /// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` for the key's limits, as
    /// OpenAI names them (clients pace themselves by these).
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let Some(ticket) = &self.ticket else { return headers };
        for (counts, standing) in self.counts.iter().zip(ticket.standings()) {
            rate_headers(&mut headers, *counts, standing);
        }
        headers
    }

    /// Settles the tokens budget with the tokens really used and frees the slot.
    pub fn settle(self, tokens_used: u64) {
        let Some(ticket) = self.ticket else { return };
        let used: Vec<u64> = self
            .counts
            .iter()
            .map(|counts| match counts {
                Counts::Requests => 1,
                Counts::Tokens => tokens_used,
            })
            .collect();
        ticket.settle(&used);
    }
}

fn rate_headers(headers: &mut HeaderMap, counts: Counts, standing: &Standing) {
    let suffix = counts.header_suffix();
    let mut put = |name: &str, value: String| {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(format!("x-ratelimit-{name}-{suffix}")), value.try_into())
        {
            headers.insert(name, value);
        }
    };
    put("limit", standing.limit.to_string());
    put("remaining", standing.remaining.to_string());
    put("reset", duration(standing.reset_ms));
}

/// The headers of a refusal by a per-minute limit: none left, full again in `retry_after`.
pub fn refusal_headers(headers: &mut HeaderMap, limit: &str, per_minute: u64, retry_after: u64) {
    let counts = if limit == Counts::Tokens.limit_name() { Counts::Tokens } else { Counts::Requests };
    let standing = Standing { limit: per_minute, remaining: 0, reset_ms: retry_after.saturating_mul(1_000) };
    rate_headers(headers, counts, &standing);
}

/// A reset time as OpenAI writes it: `20ms`, `1s`, `6.5s`.
fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        _ if ms.is_multiple_of(1_000) => format!("{}s", ms / 1_000),
        _ => format!("{}s", format!("{:.3}", ms as f64 / 1_000.0).trim_end_matches('0')),
    }
}
