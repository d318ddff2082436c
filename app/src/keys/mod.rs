//! API keys: the credential applications call the gateway with, and its policy.

mod page;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

pub use page::KeysPage;

#[cfg(feature = "ssr")]
use crate::error::AppError;
use crate::error::ConsoleError;
use crate::users::text_enum;
use leptos::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};

/// The first part of every key: `tg-<public id>-<secret>`.
pub const KEY_KIND: &str = "tg";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Enabled,
    Disabled,
    /// Final: a revoked key never works again.
    Revoked,
}

text_enum!(KeyStatus { Enabled => "enabled", Disabled => "disabled", Revoked => "revoked" });

/// The policy an owner sets on a key. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KeyPolicy {
    /// UTC unix milliseconds.
    pub expires_at: Option<i64>,
    pub ip_allowlist: Vec<String>,
    pub model_whitelist: Vec<String>,
    /// Micro-units this key may spend in total.
    pub spend_cap: Option<i64>,
    pub rpm: Option<i64>,
    pub tpm: Option<i64>,
    pub max_concurrency: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KeyView {
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    pub name: String,
    /// The public part, shown everywhere (`tg-3fa9c1...`).
    pub prefix: String,
    pub status: KeyStatus,
    #[serde(flatten)]
    pub policy: KeyPolicy,
    pub spent: i64,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
}

/// A key as created: `secret` is the whole key, shown once and never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IssuedKey {
    pub id: String,
    pub prefix: String,
    pub secret: String,
    pub key: KeyView,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub ip_allowlist: Vec<String>,
    #[serde(default)]
    pub model_whitelist: Vec<String>,
    #[serde(default)]
    pub spend_cap: Option<i64>,
    #[serde(default)]
    pub rpm: Option<i64>,
    #[serde(default)]
    pub tpm: Option<i64>,
    #[serde(default)]
    pub max_concurrency: Option<i64>,
}

/// A partial update. For optional limits, `null` clears and absence keeps.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyChange {
    pub name: Option<String>,
    pub status: Option<KeyStatus>,
    #[serde(default, deserialize_with = "present")]
    pub expires_at: Option<Option<i64>>,
    pub ip_allowlist: Option<Vec<String>>,
    pub model_whitelist: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub spend_cap: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub rpm: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub tpm: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub max_concurrency: Option<Option<i64>>,
}

/// Tells a field sent as `null` (Some(None)) from a field not sent (None).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(deserializer)?))
}

impl KeyChange {
    /// The policy after this change.
    pub fn apply(&self, policy: &KeyPolicy) -> KeyPolicy {
        KeyPolicy {
            expires_at: self.expires_at.unwrap_or(policy.expires_at),
            ip_allowlist: self.ip_allowlist.clone().unwrap_or_else(|| policy.ip_allowlist.clone()),
            model_whitelist: self.model_whitelist.clone().unwrap_or_else(|| policy.model_whitelist.clone()),
            spend_cap: self.spend_cap.unwrap_or(policy.spend_cap),
            rpm: self.rpm.unwrap_or(policy.rpm),
            tpm: self.tpm.unwrap_or(policy.tpm),
            max_concurrency: self.max_concurrency.unwrap_or(policy.max_concurrency),
        }
    }
}

/// What the keys page shows: the keys, the model codes a whitelist may name, and the
/// server's clock (so "expired" is decided once, the same on server and browser).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
    pub models: Vec<String>,
    pub now: i64,
}

/// The session entry that carries a key created by a plain form post (no JavaScript) to
/// the page the browser is redirected to, where it is shown once and removed.
#[cfg(feature = "ssr")]
const NEW_KEY_FLASH: &str = "tollgate.new_key";

#[server(prefix = "/rpc", endpoint = "list_keys")]
pub async fn list_keys(account_id: String) -> Result<KeyList, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let result = async {
        let keys = service::list(&call.state, &call.caller, &account_id).await?;
        let models = crate::models::service::list_models(&call.state, &call.caller).await?;
        Ok(KeyList { keys, models: models.into_iter().map(|m| m.code).collect(), now: crate::clock::now_ms() })
    };
    call.finish(result.await)
}

pub use policy_forms::{create_key, update_key, CreateKey, UpdateKey};

/// Its own module only so the lint allowance reaches the code the `#[server]` macro
/// generates: the key forms carry every policy field, more than seven arguments.
#[allow(clippy::too_many_arguments)]
mod policy_forms {
    use super::*;

    /// The policy fields of the key forms as the browser sends them: numbers, dates and
    /// the allowlist as text, an empty field meaning "none".
    #[cfg(feature = "ssr")]
    struct PolicyText {
        expires_at: Option<String>,
        ip_allowlist: Option<String>,
        model_whitelist: Option<Vec<String>>,
        rpm: Option<String>,
        tpm: Option<String>,
        max_concurrency: Option<String>,
        spend_cap: Option<String>,
    }

    /// An optional number from a form field: empty means "none".
    #[cfg(feature = "ssr")]
    fn optional_number(param: &str, text: Option<String>, label: &str) -> Result<Option<i64>, AppError> {
        match text.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => text.parse::<i64>().map(Some).map_err(|_| {
                AppError::invalid(param, format!("{label} must be a whole number, or empty for no limit."))
            }),
        }
    }

    #[cfg(feature = "ssr")]
    impl PolicyText {
        fn parse(self) -> Result<KeyPolicy, AppError> {
            let expires_at = match self.expires_at.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(text) => Some(crate::timefmt::parse_datetime_local(text).ok_or_else(|| {
                    AppError::invalid("expires_at", "The expiry must be a date and time, e.g. 2030-01-31T18:00 (UTC).")
                })?),
            };
            let spend_cap = match self.spend_cap.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(text) => Some(crate::money::parse_credits(text).ok_or_else(|| {
                    AppError::invalid("spend_cap", "The spend cap must be an amount of credits such as 25 or 2.5.")
                })?),
            };
            let ip_allowlist = self
                .ip_allowlist
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect();
            Ok(KeyPolicy {
                expires_at,
                ip_allowlist,
                model_whitelist: self.model_whitelist.unwrap_or_default(),
                spend_cap,
                rpm: optional_number("rpm", self.rpm, "Requests per minute")?,
                tpm: optional_number("tpm", self.tpm, "Tokens per minute")?,
                max_concurrency: optional_number("max_concurrency", self.max_concurrency, "Concurrency")?,
            })
        }
    }

    /// Creates a key from the console's form.
    #[server(prefix = "/rpc", endpoint = "create_key")]
    pub async fn create_key(
        account_id: String,
        name: String,
        expires_at: Option<String>,
        ip_allowlist: Option<String>,
        model_whitelist: Option<Vec<String>>,
        rpm: Option<String>,
        tpm: Option<String>,
        max_concurrency: Option<String>,
        spend_cap: Option<String>,
    ) -> Result<IssuedKey, ConsoleError> {
        let call = crate::state::ServerCall::begin().await?;
        let text = PolicyText { expires_at, ip_allowlist, model_whitelist, rpm, tpm, max_concurrency, spend_cap };
        let input = crate::access::Deferred::parse(move || {
            let policy = text.parse()?;
            Ok(NewKey {
                name,
                expires_at: policy.expires_at,
                ip_allowlist: policy.ip_allowlist,
                model_whitelist: policy.model_whitelist,
                spend_cap: policy.spend_cap,
                rpm: policy.rpm,
                tpm: policy.tpm,
                max_concurrency: policy.max_concurrency,
            })
        });
        let result = service::create(&call.state, &call.caller, &account_id, input).await;
        if let (Ok(issued), true) = (&result, crate::state::is_form_post()) {
            crate::state::put_flash(NEW_KEY_FLASH, issued).await?;
        }
        call.finish(result)
    }

    /// Replaces a key's name and whole policy from the console's edit form (an empty
    /// field clears its limit), through the same service as `PATCH /api/v1/keys/{id}`.
    #[server(prefix = "/rpc", endpoint = "update_key")]
    pub async fn update_key(
        id: String,
        name: String,
        expires_at: Option<String>,
        ip_allowlist: Option<String>,
        model_whitelist: Option<Vec<String>>,
        rpm: Option<String>,
        tpm: Option<String>,
        max_concurrency: Option<String>,
        spend_cap: Option<String>,
    ) -> Result<KeyView, ConsoleError> {
        let call = crate::state::ServerCall::begin().await?;
        let result = async {
            let before = service::get(&call.state, &call.caller, &id).await?;
            let text = PolicyText { expires_at, ip_allowlist, model_whitelist, rpm, tpm, max_concurrency, spend_cap };
            let policy = text.parse()?;
            // The form shows the expiry to the minute: sent back as shown, it keeps the
            // stored value (and an expiry already past is not re-checked).
            let shown = before.policy.expires_at.map(crate::timefmt::to_minute);
            let change = KeyChange {
                name: Some(name),
                status: None,
                expires_at: (policy.expires_at != shown).then_some(policy.expires_at),
                ip_allowlist: Some(policy.ip_allowlist),
                model_whitelist: Some(policy.model_whitelist),
                spend_cap: Some(policy.spend_cap),
                rpm: Some(policy.rpm),
                tpm: Some(policy.tpm),
                max_concurrency: Some(policy.max_concurrency),
            };
            service::change(&call.state, &call.caller, &id, crate::access::Deferred::ready(change)).await
        };
        call.finish(result.await)
    }
}

/// The key just created by a plain form post, for the page render it redirected to only.
#[server(prefix = "/rpc", endpoint = "take_new_key")]
pub async fn take_new_key() -> Result<Option<IssuedKey>, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let issued = crate::state::take_flash::<IssuedKey>(NEW_KEY_FLASH).await;
    call.finish(issued)
}

/// Disables or re-enables a key (`enabled` / `disabled`).
#[server(prefix = "/rpc", endpoint = "set_key_status")]
pub async fn set_key_status(id: String, status: String) -> Result<KeyView, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let change = crate::access::Deferred::parse(move || match KeyStatus::parse(&status) {
        Some(status @ (KeyStatus::Enabled | KeyStatus::Disabled)) => {
            Ok(KeyChange { status: Some(status), ..KeyChange::default() })
        }
        _ => Err(AppError::invalid("status", "The status must be enabled or disabled.")),
    });
    call.finish(service::change(&call.state, &call.caller, &id, change).await)
}

/// Revokes a key for good; `confirm` must be ticked.
#[server(prefix = "/rpc", endpoint = "revoke_key")]
pub async fn revoke_key(id: String, confirm: Option<String>) -> Result<KeyView, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    if confirm.as_deref().is_none_or(str::is_empty) {
        return call.finish(Err(AppError::invalid(
            "confirm",
            "Tick the box to confirm: revoking is final and the key can never be used again.",
        )));
    }
    call.finish(service::revoke(&call.state, &call.caller, &id).await)
}
