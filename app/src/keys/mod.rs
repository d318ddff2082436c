//! API keys: the credential applications call the gateway with, and its policy.

#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

use crate::users::text_enum;
use serde::{Deserialize, Deserializer, Serialize};

/// The first part of every key: `tg-<public id>-<secret>`.
pub const KEY_KIND: &str = "tg";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct IssuedKey {
    pub id: String,
    pub prefix: String,
    pub secret: String,
    pub key: KeyView,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<Option<T>>, D::Error> {
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
