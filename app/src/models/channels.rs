//! The console's server functions for channels (admins only): list, create, change,
//! switch on and off, and test, through the same services as `/api/v1/channels`.

use super::{ChannelTest, ChannelView};
#[cfg(feature = "ssr")]
use crate::error::AppError;
use crate::error::ConsoleError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::service;

/// What the channels page shows: the channels, and the model codes a channel may serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelList {
    pub channels: Vec<ChannelView>,
    pub models: Vec<String>,
}

/// The session entry that carries a test's outcome from a plain form post (no
/// JavaScript) to the page the browser is redirected to.
#[cfg(feature = "ssr")]
const CHANNEL_TEST_FLASH: &str = "tollgate.channel_test";

#[server(prefix = "/rpc", endpoint = "list_channels")]
pub async fn list_channels() -> Result<ChannelList, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let result = async {
        let channels = service::list_channels(&call.state, &call.caller).await?;
        let models = service::list_models(&call.state, &call.caller).await?;
        Ok(ChannelList { channels, models: models.into_iter().map(|model| model.code).collect() })
    };
    call.finish(result.await)
}

/// Switches a channel on (`true`) or off (`false`).
#[server(prefix = "/rpc", endpoint = "set_channel_enabled")]
pub async fn set_channel_enabled(id: String, enabled: bool) -> Result<ChannelView, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let change = crate::access::Deferred::ready(super::ChannelChange { enabled: Some(enabled), ..Default::default() });
    call.finish(service::change_channel(&call.state, &call.caller, &id, change).await)
}

/// Sends one small chat request through the channel and reports how it went.
#[server(prefix = "/rpc", endpoint = "test_channel")]
pub async fn test_channel(id: String) -> Result<ChannelTest, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let result = service::test_channel(&call.state, &call.caller, &id).await;
    if let (Ok(test), true) = (&result, crate::state::is_form_post()) {
        crate::state::put_flash(CHANNEL_TEST_FLASH, test).await?;
    }
    call.finish(result)
}

/// The test just run by a plain form post, for the page render it redirected to only.
#[server(prefix = "/rpc", endpoint = "take_channel_test")]
pub async fn take_channel_test() -> Result<Option<ChannelTest>, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let test = crate::state::take_flash::<ChannelTest>(CHANNEL_TEST_FLASH).await;
    call.finish(test)
}

pub use channel_forms::{CreateChannel, UpdateChannel};

/// Its own module only so the lint allowance reaches the code the `#[server]` macro
/// generates: a channel's form has more than seven fields.
#[allow(clippy::too_many_arguments)]
mod channel_forms {
    use super::*;
    use crate::models::Protocol;

    /// A whole number from a form field.
    #[cfg(feature = "ssr")]
    fn whole_number(param: &str, text: &str, label: &str) -> Result<i64, AppError> {
        text.trim().parse().map_err(|_| AppError::invalid(param, format!("{label} must be a whole number.")))
    }

    /// Creates a channel from the console's form; numbers arrive as text.
    #[server(prefix = "/rpc", endpoint = "create_channel")]
    pub async fn create_channel(
        name: String,
        protocol: Protocol,
        base_url: String,
        credential: Option<String>,
        models: Option<Vec<String>>,
        priority: String,
        weight: String,
        timeout_ms: String,
        enabled: Option<String>,
    ) -> Result<ChannelView, ConsoleError> {
        let call = crate::state::ServerCall::begin().await?;
        let input = crate::access::Deferred::parse(move || {
            Ok(crate::models::NewChannel {
                name,
                protocol,
                base_url,
                credential,
                models: models.unwrap_or_default(),
                priority: whole_number("priority", &priority, "Priority")?,
                weight: whole_number("weight", &weight, "Weight")?,
                enabled: enabled.is_some(),
                timeout_ms: whole_number("timeout_ms", &timeout_ms, "The timeout")?,
            })
        });
        call.finish(service::create_channel(&call.state, &call.caller, input).await)
    }

    /// Changes a channel from the console's edit form. The credential is write-only: a
    /// blank field keeps the stored one.
    #[server(prefix = "/rpc", endpoint = "update_channel")]
    pub async fn update_channel(
        id: String,
        name: String,
        protocol: Protocol,
        base_url: String,
        credential: Option<String>,
        models: Option<Vec<String>>,
        priority: String,
        weight: String,
        timeout_ms: String,
    ) -> Result<ChannelView, ConsoleError> {
        let call = crate::state::ServerCall::begin().await?;
        let change = crate::access::Deferred::parse(move || {
            Ok(crate::models::ChannelChange {
                name: Some(name),
                protocol: Some(protocol),
                base_url: Some(base_url),
                credential: credential.filter(|credential| !credential.trim().is_empty()),
                models: Some(models.unwrap_or_default()),
                priority: Some(whole_number("priority", &priority, "Priority")?),
                weight: Some(whole_number("weight", &weight, "Weight")?),
                enabled: None,
                timeout_ms: Some(whole_number("timeout_ms", &timeout_ms, "The timeout")?),
            })
        });
        call.finish(service::change_channel(&call.state, &call.caller, &id, change).await)
    }
}
