//! Usage logs: one row per data-plane request, success or rejection, keyed by the
//! gateway's request id, so support can tell from one id which layer failed and why.

mod page;
#[cfg(feature = "ssr")]
pub mod retention;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

pub(crate) use page::encode;
pub use page::{SupportPage, UsageDetailPage, UsagePage as UsageLogPage};

use crate::error::ConsoleError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One try of one upstream channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Attempt {
    pub channel_id: String,
    /// The upstream's HTTP status; `None` when it never answered (connect error, timeout).
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub upstream_request_id: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// Uncached input only: cache reads and writes are counted apart.
    pub prompt_tokens: i64,
    /// Prompt tokens read from the upstream's cache.
    pub cache_read_tokens: i64,
    /// Prompt tokens written to the upstream's cache.
    pub cache_write_tokens: i64,
    pub completion_tokens: i64,
    /// The part of `completion_tokens` spent reasoning.
    pub reasoning_tokens: i64,
    /// Micro-units charged.
    pub cost: i64,
    /// Micro-units the upstream's reported usage came to beyond the request's hold: never
    /// charged (a request costs at most what it held), recorded for the operator.
    pub overrun: i64,
    pub client_ip: Option<String>,
    pub channel_id: Option<String>,
    pub upstream_request_id: Option<String>,
    pub attempts: Vec<Attempt>,
    pub stream: bool,
    /// The route family the client spoke: `openai`, `openai-responses`, `anthropic` or `gemini`.
    pub client_dialect: Option<String>,
    /// The protocol of the channel that answered (`echo` included).
    pub channel_dialect: Option<String>,
}

/// One usage row with the names a person needs beside its ids; never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RequestDetail {
    #[serde(flatten)]
    pub record: UsageRecord,
    #[serde(flatten)]
    pub names: RequestNames,
}

/// Names of what a request touched. A name is `None` when its thing is gone or the caller
/// may not see it (a member sees the names of their own keys only, as on the keys page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RequestNames {
    pub account_name: Option<String>,
    pub key_name: Option<String>,
    /// The key's public prefix (`tg-3fa9c1…`).
    pub key_prefix: Option<String>,
    /// The email of the user who owns the key: for admins and support only.
    pub key_owner_email: Option<String>,
    /// The channel that answered.
    pub channel_name: Option<String>,
    /// Every channel tried (see `attempts`), by id.
    pub channel_names: BTreeMap<String, String>,
}

/// Filters of the usage list; every one optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UsagePage {
    pub rows: Vec<UsageRecord>,
    /// Pass as `cursor` for the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// What a person should try after a request ended with `status`, from the contract's
/// retry guidance and the layer (and code) that refused it.
pub fn fix_for(status: i64, layer: Option<&str>, code: Option<&str>) -> &'static str {
    if (200..400).contains(&status) {
        return "Nothing to fix: the request succeeded.";
    }
    match code.unwrap_or_default() {
        "missing_api_key" | "invalid_api_key" => {
            return "Send a valid key as `Authorization: Bearer <key>`. Do not retry with the same header.";
        }
        "api_key_disabled" => {
            return "The key is disabled: enable it on the Keys page, or use another key. Do not retry."
        }
        "api_key_revoked" => return "The key is revoked for good: create a new key and use that one.",
        "api_key_expired" => return "The key has expired: create a new key. Do not retry.",
        "account_disabled" => return "The account or the key's owner is suspended: ask an administrator.",
        "ip_not_allowed" => {
            return "Call from an address in the key's IP allowlist, or use a key that allows this address."
        }
        "model_not_found" => {
            return "Check the model code against the model catalog; retrying unchanged will fail again."
        }
        "model_disabled" => return "This model is disabled: pick another model from the catalog.",
        "model_not_allowed" => return "The key's model whitelist excludes this model: use a key that allows it.",
        "key_quota_exhausted" => return "The key reached its spend cap: raise the cap or use another key.",
        "insufficient_balance" => {
            return "Top up the account (redeem a code or ask for credit), then send the request again."
        }
        "rate_limit_exceeded" | "concurrency_limit_exceeded" => {
            return "Slow down: retry after the seconds in the Retry-After header.";
        }
        _ => {}
    }
    match (status, layer.unwrap_or_default()) {
        (429, _) => "Slow down: retry after the seconds in the Retry-After header.",
        (402, _) => "Top up the account (redeem a code or ask for credit), then send the request again.",
        (401, _) => "Check the API key: it is missing, unknown, disabled or revoked. Do not retry unchanged.",
        (403, _) => "The key may not make this request: check its expiry, IP allowlist and model whitelist.",
        (502..=504, _) => "The upstream failed or timed out: retry with exponential backoff.",
        (400..=499, "upstream") => {
            "The model's provider rejected the request (e.g. context too long): change the request; do not retry unchanged."
        }
        (400..=499, _) => "Fix the request as the error message says; retrying it unchanged will fail again.",
        _ => "Retry with backoff; if it keeps failing, contact support and quote this request id.",
    }
}

/// One usage row by request id, with names (admins and support: any tenant, audited).
#[server(prefix = "/rpc", endpoint = "get_usage")]
pub async fn get_usage(request_id: String) -> Result<RequestDetail, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::get(&call.state, &call.caller, request_id.trim()).await)
}

pub use list_fn::{list_usage, ListUsage};

/// Its own module only so the lint allowance reaches the code `#[server]` generates.
#[allow(clippy::too_many_arguments)]
mod list_fn {
    use super::*;

    /// One page of an account's usage rows, newest first; empty filters mean "any"; `from`
    /// (inclusive) and `to` (exclusive) are UTC times as a `datetime-local` input sends them.
    #[server(prefix = "/rpc", endpoint = "list_usage")]
    pub async fn list_usage(
        account_id: String,
        key: Option<String>,
        model: Option<String>,
        status: Option<String>,
        error_code: Option<String>,
        from: Option<String>,
        to: Option<String>,
        cursor: Option<String>,
    ) -> Result<UsagePage, ConsoleError> {
        let call = crate::state::ServerCall::begin().await?;
        let given = |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let time = |param: &str, value: Option<String>| crate::timefmt::parse_form_time(param, value.as_deref());
        let result = async {
            let filter = UsageFilter {
                key: given(key),
                model: given(model),
                status: given(status),
                error_code: given(error_code),
                from: time("from", from)?,
                to: time("to", to)?,
                cursor: given(cursor),
                limit: None,
            };
            service::list(&call.state, &call.caller, &account_id, &filter).await
        };
        call.finish(result.await)
    }
}

#[cfg(test)]
mod tests {
    use super::fix_for;

    #[test]
    fn fixes_follow_the_retry_guidance() {
        assert!(fix_for(200, None, None).starts_with("Nothing to fix"));
        assert!(fix_for(401, Some("identity"), Some("api_key_disabled")).contains("enable it"));
        assert!(fix_for(401, Some("identity"), Some("api_key_revoked")).contains("create a new key"));
        assert!(fix_for(401, Some("identity"), Some("something_new")).contains("Do not retry"));
        assert!(fix_for(403, Some("permission"), Some("ip_not_allowed")).contains("allowlist"));
        assert!(fix_for(402, Some("quota"), Some("insufficient_balance")).contains("Top up"));
        assert!(fix_for(429, Some("rate_limit"), Some("rate_limit_exceeded")).contains("Retry-After"));
        assert!(fix_for(429, Some("quota"), Some("key_quota_exhausted")).contains("spend cap"));
        assert!(fix_for(503, Some("routing"), Some("no_available_channel")).contains("backoff"));
        assert!(fix_for(504, Some("upstream"), Some("upstream_timeout")).contains("backoff"));
        assert!(fix_for(400, Some("upstream"), Some("context_length_exceeded")).contains("provider rejected"));
        assert!(fix_for(400, Some("request"), Some("invalid_json")).contains("unchanged will fail"));
        assert!(fix_for(500, Some("internal"), Some("internal_error")).contains("request id"));
    }
}
