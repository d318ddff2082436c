//! The model catalog and the channels (upstream providers) that serve each model.

mod channel_page;
mod channels;
#[cfg(feature = "ssr")]
pub mod credential;
mod page;
#[cfg(feature = "ssr")]
pub mod probe;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

pub use channel_page::ChannelsPage;
pub use page::ModelsPage;

#[cfg(feature = "ssr")]
use crate::error::AppError;
use crate::error::ConsoleError;
use crate::users::text_enum;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ModelStatus {
    Active,
    Disabled,
}

text_enum!(ModelStatus { Active => "active", Disabled => "disabled" });

/// The wire protocol a channel speaks (api-contract.md, "Dialects and translation").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Chat Completions.
    Openai,
    /// The Responses API. Its wire name has a hyphen, which `snake_case` would not give.
    #[serde(rename = "openai-responses")]
    OpenaiResponses,
    /// Messages.
    Anthropic,
    Gemini,
    /// Built in: answers locally and deterministically, no network.
    Echo,
}

text_enum!(Protocol {
    Openai => "openai",
    OpenaiResponses => "openai-responses",
    Anthropic => "anthropic",
    Gemini => "gemini",
    Echo => "echo",
});

impl Protocol {
    /// What the console calls it.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Openai => "OpenAI Chat Completions",
            Protocol::OpenaiResponses => "OpenAI Responses",
            Protocol::Anthropic => "Anthropic Messages",
            Protocol::Gemini => "Google Gemini",
            Protocol::Echo => "Echo (built in)",
        }
    }
}

/// One channel serving a model, with the upstream's own name for it when it differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ModelChannel {
    pub channel_id: String,
    #[serde(default)]
    pub upstream_model: Option<String>,
}

/// A catalog entry. Prices are micro-units per million tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ModelView {
    pub code: String,
    pub name: String,
    pub status: ModelStatus,
    pub input_price: i64,
    pub output_price: i64,
    /// Prompt tokens read from the upstream's cache; `None`: priced as input.
    pub cache_read_price: Option<i64>,
    /// Prompt tokens written to the upstream's cache; `None`: priced as input.
    pub cache_write_price: Option<i64>,
    pub context_window: i64,
    /// The output cap reserved for when a request sends no `max_tokens`.
    pub default_max_tokens: i64,
    pub channels: Vec<ModelChannel>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewModel {
    pub code: String,
    pub name: String,
    #[serde(default = "active")]
    pub status: ModelStatus,
    pub input_price: i64,
    pub output_price: i64,
    /// Left out: cache reads are priced as input.
    #[serde(default)]
    pub cache_read_price: Option<i64>,
    /// Left out: cache writes are priced as input.
    #[serde(default)]
    pub cache_write_price: Option<i64>,
    pub context_window: i64,
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: i64,
    #[serde(default)]
    pub channels: Vec<ModelChannel>,
}

fn active() -> ModelStatus {
    ModelStatus::Active
}

fn default_max_tokens() -> i64 {
    4096
}

/// A partial update. For the cache prices, `null` clears (priced as input again) and
/// absence keeps.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ModelChange {
    pub name: Option<String>,
    pub status: Option<ModelStatus>,
    pub input_price: Option<i64>,
    pub output_price: Option<i64>,
    #[serde(default, deserialize_with = "crate::keys::present")]
    pub cache_read_price: Option<Option<i64>>,
    #[serde(default, deserialize_with = "crate::keys::present")]
    pub cache_write_price: Option<Option<i64>>,
    pub context_window: Option<i64>,
    pub default_max_tokens: Option<i64>,
    pub channels: Option<Vec<ModelChannel>>,
}

/// A channel as the API shows it: the credential is write-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChannelView {
    pub id: String,
    pub name: String,
    pub protocol: Protocol,
    pub base_url: String,
    pub has_credential: bool,
    pub models: Vec<String>,
    pub priority: i64,
    pub weight: i64,
    pub enabled: bool,
    pub timeout_ms: i64,
}

#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    pub name: String,
    pub protocol: Protocol,
    #[serde(default)]
    pub base_url: String,
    #[serde(default)]
    pub credential: Option<String>,
    /// Codes of catalog models this channel serves (under the same name upstream).
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub priority: i64,
    #[serde(default = "one")]
    pub weight: i64,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: i64,
}

fn one() -> i64 {
    1
}

fn yes() -> bool {
    true
}

fn default_timeout_ms() -> i64 {
    60_000
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChannelChange {
    pub name: Option<String>,
    pub protocol: Option<Protocol>,
    pub base_url: Option<String>,
    /// A new credential; the old one is never shown.
    pub credential: Option<String>,
    pub models: Option<Vec<String>>,
    pub priority: Option<i64>,
    pub weight: Option<i64>,
    pub enabled: Option<bool>,
    pub timeout_ms: Option<i64>,
}

/// Credentials never reach logs, even through `Debug`.
macro_rules! redacted_debug {
    ($ty:ty, $($field:ident),+) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))+
                    .field("credential", &self.credential.as_ref().map(|_| "[redacted]"))
                    .finish()
            }
        }
    };
}

redacted_debug!(NewChannel, name, protocol, base_url, models, priority, weight, enabled, timeout_ms);
redacted_debug!(ChannelChange, name, protocol, base_url, models, priority, weight, enabled, timeout_ms);

/// The outcome of testing a channel with one small chat request (not billed, no usage row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChannelTest {
    pub channel_id: String,
    pub channel_name: String,
    /// The catalog model asked for, and the upstream's name for it.
    pub model: String,
    pub upstream_model: String,
    /// The upstream answered 2xx with a completion.
    pub ok: bool,
    /// The upstream's HTTP status; none when it could not be reached or timed out.
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub upstream_request_id: Option<String>,
    /// What went wrong, as a sentence.
    pub error: Option<String>,
}

/// The catalog, for everyone signed in.
#[server(prefix = "/rpc", endpoint = "list_catalog")]
pub async fn list_catalog() -> Result<Vec<ModelView>, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::list_models(&call.state, &call.caller).await)
}

/// An admin's change to one model: its status and its prices, typed in credits per
/// million tokens. A cache price left empty is the input price.
#[server(prefix = "/rpc", endpoint = "update_model")]
pub async fn update_model(
    code: String,
    status: ModelStatus,
    input_price: String,
    output_price: String,
    cache_read_price: String,
    cache_write_price: String,
) -> Result<ModelView, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let change = crate::access::Deferred::parse(move || {
        let price = |param: &str, text: &str| {
            crate::money::parse_credits(text)
                .ok_or_else(|| AppError::invalid(param, format!("`{text}` is not an amount of credits, like 2.5.")))
        };
        let cache_price = |param: &str, text: &str| match text.trim() {
            "" => Ok(None),
            text => price(param, text).map(Some),
        };
        Ok(ModelChange {
            status: Some(status),
            input_price: Some(price("input_price", &input_price)?),
            output_price: Some(price("output_price", &output_price)?),
            cache_read_price: Some(cache_price("cache_read_price", &cache_read_price)?),
            cache_write_price: Some(cache_price("cache_write_price", &cache_write_price)?),
            ..ModelChange::default()
        })
    });
    call.finish(service::change_model(&call.state, &call.caller, &code, change).await)
}

/// An admin's choice of the channels serving one model, from the console's form. The
/// form lists every channel (`channel_ids`) with the upstream's own name for the model
/// on it (`upstream_models`, same order, blank: the model's code); `serve` holds the
/// ticked ones. (Ids make poor form keys: the form decoder reads `name[019a…]` as an index.)
#[server(prefix = "/rpc", endpoint = "update_model_channels")]
pub async fn update_model_channels(
    code: String,
    serve: Option<Vec<String>>,
    channel_ids: Option<Vec<String>>,
    upstream_models: Option<Vec<String>>,
) -> Result<ModelView, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let serve = serve.unwrap_or_default();
    let links = channel_ids
        .unwrap_or_default()
        .into_iter()
        .zip(upstream_models.unwrap_or_default())
        .filter(|(channel_id, _)| serve.contains(channel_id))
        .map(|(channel_id, upstream_model)| {
            let upstream_model = Some(upstream_model.trim().to_owned()).filter(|name| !name.is_empty());
            ModelChannel { channel_id, upstream_model }
        })
        .collect();
    let change = crate::access::Deferred::ready(ModelChange { channels: Some(links), ..ModelChange::default() });
    call.finish(service::change_model(&call.state, &call.caller, &code, change).await)
}
