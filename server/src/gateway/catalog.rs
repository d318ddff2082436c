//! The hot path's view of keys, models and channels: loaded from the database into
//! memory, swapped atomically, refreshed on every management change (made here, or on
//! PostgreSQL through another instance) and on an interval, the backstop.

use super::dialect::anthropic;
use app::error::AppError;
use app::keys::{store as keys_store, KeyPolicy, KeyStatus};
use app::models::{store as catalog_store, ChannelView, ModelView, Protocol};
use app::state::AppState;
use arc_swap::ArcSwap;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::Uri;
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A key as the gateway checks it.
pub struct GatewayKey {
    pub id: String,
    pub account_id: String,
    pub prefix: String,
    pub secret_hash: String,
    pub status: KeyStatus,
    /// The account or the owning user is suspended.
    pub suspended: bool,
    pub policy: KeyPolicy,
    pub allowlist: Vec<IpNet>,
}

pub struct Channel {
    pub id: String,
    pub protocol: Protocol,
    /// Where this channel's requests go and the headers they carry (protocol version,
    /// credential), built once here rather than on every request. A base URL or credential
    /// that HTTP cannot carry leaves none, and every call through the channel fails.
    pub call: Option<ChannelCall>,
    pub priority: i64,
    pub weight: i64,
    pub enabled: bool,
    pub timeout: Duration,
    /// Kept to take it out of anything the upstream says (it may quote the key it got).
    pub credential: Option<SecretString>,
}

pub struct ChannelCall {
    /// The base URL as configured (no trailing slash).
    base: String,
    /// The endpoint nearly every request goes to, built once: Gemini's alone depends on the
    /// model, so it has none and builds its URI per call.
    generate: Option<Uri>,
    pub headers: HeaderMap,
}

impl Channel {
    pub fn new(view: ChannelView, credential: Option<SecretString>) -> Channel {
        Channel {
            call: ChannelCall::new(&view, credential.as_ref()),
            id: view.id,
            protocol: view.protocol,
            priority: view.priority,
            weight: view.weight,
            enabled: view.enabled,
            timeout: Duration::from_millis(view.timeout_ms.max(1) as u64),
            credential,
        }
    }
}

/// What a call asks of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Generate { stream: bool },
    CountTokens,
    Embeddings,
}

impl ChannelCall {
    fn new(view: &ChannelView, credential: Option<&SecretString>) -> Option<ChannelCall> {
        let base = view.base_url.trim_end_matches('/').to_owned();
        let generate = match view.protocol {
            Protocol::Gemini | Protocol::Echo => None,
            protocol => Some(
                Uri::try_from(format!("{base}{}", fixed_path(protocol, Endpoint::Generate { stream: false })?)).ok()?,
            ),
        };
        let mut headers = HeaderMap::new();
        if view.protocol == Protocol::Anthropic {
            headers.insert("anthropic-version", HeaderValue::from_static(anthropic::VERSION));
        }
        if let Some(credential) = credential {
            let secret = credential.expose_secret();
            let (name, text) = match view.protocol {
                Protocol::Anthropic => ("x-api-key", secret.to_owned()),
                Protocol::Gemini => ("x-goog-api-key", secret.to_owned()),
                _ => ("authorization", format!("Bearer {secret}")),
            };
            let mut value = HeaderValue::try_from(text).ok()?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Some(ChannelCall { base, generate, headers })
    }

    /// Where `endpoint` of this channel is, for `upstream_model`; `None` when the protocol
    /// has no such endpoint (embeddings on Anthropic) or the URL cannot be built.
    pub fn uri(&self, protocol: Protocol, endpoint: Endpoint, upstream_model: &str) -> Option<Uri> {
        if let (Endpoint::Generate { .. }, Some(uri)) = (endpoint, &self.generate) {
            return Some(uri.clone());
        }
        let path = match (protocol, endpoint) {
            (Protocol::Gemini, Endpoint::Generate { stream: false }) => {
                format!("/v1beta/models/{upstream_model}:generateContent")
            }
            (Protocol::Gemini, Endpoint::Generate { stream: true }) => {
                format!("/v1beta/models/{upstream_model}:streamGenerateContent?alt=sse")
            }
            (Protocol::Gemini, Endpoint::CountTokens) => format!("/v1beta/models/{upstream_model}:countTokens"),
            (protocol, endpoint) => fixed_path(protocol, endpoint)?.to_owned(),
        };
        Uri::try_from(format!("{}{path}", self.base)).ok()
    }
}

/// The paths that do not depend on the model.
fn fixed_path(protocol: Protocol, endpoint: Endpoint) -> Option<&'static str> {
    Some(match (protocol, endpoint) {
        (Protocol::Openai, Endpoint::Generate { .. }) => "/chat/completions",
        (Protocol::Openai, Endpoint::Embeddings) => "/embeddings",
        (Protocol::OpenaiResponses, Endpoint::Generate { .. }) => "/responses",
        (Protocol::Anthropic, Endpoint::Generate { .. }) => "/v1/messages",
        (Protocol::Anthropic, Endpoint::CountTokens) => "/v1/messages/count_tokens",
        _ => return None,
    })
}

/// One way to serve a model: a channel and the upstream's name for the model.
#[derive(Clone)]
pub struct Target {
    pub channel: Arc<Channel>,
    pub upstream_model: String,
}

pub struct CatalogModel {
    pub view: ModelView,
    pub targets: Vec<Target>,
}

#[derive(Default)]
pub struct Snapshot {
    keys: HashMap<String, Arc<GatewayKey>>,
    models: HashMap<String, Arc<CatalogModel>>,
    model_codes: Vec<String>,
}

impl Snapshot {
    pub fn key(&self, public_id: &str) -> Option<&Arc<GatewayKey>> {
        self.keys.get(public_id)
    }

    pub fn model(&self, code: &str) -> Option<&Arc<CatalogModel>> {
        self.models.get(code)
    }

    /// Models in catalog order.
    pub fn models(&self) -> impl Iterator<Item = &Arc<CatalogModel>> {
        self.model_codes.iter().filter_map(|code| self.models.get(code))
    }
}

pub struct Catalog {
    current: ArcSwap<Snapshot>,
}

impl Catalog {
    pub async fn load(state: &AppState) -> Result<Catalog, AppError> {
        Ok(Catalog { current: ArcSwap::from_pointee(snapshot(state).await?) })
    }

    pub fn current(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    pub async fn refresh(&self, state: &AppState) -> Result<(), AppError> {
        self.current.store(Arc::new(snapshot(state).await?));
        Ok(())
    }

    /// Reloads after every change announced here or by another instance, and at least
    /// every `interval`.
    pub async fn keep_fresh(self: Arc<Self>, state: AppState, interval: Duration) {
        loop {
            tokio::select! {
                () = state.catalog_changes.announced() => {}
                () = tokio::time::sleep(interval) => {}
            }
            let generation = state.catalog_changes.begin_reload();
            match self.refresh(&state).await {
                Ok(()) => state.catalog_changes.reloaded(generation),
                Err(err) => tracing::warn!(error = %err, "could not refresh the gateway catalog; keeping the last one"),
            }
        }
    }
}

async fn snapshot(state: &AppState) -> Result<Snapshot, AppError> {
    let keys = keys_store::all_for_gateway(&state.db)
        .await?
        .into_iter()
        .map(|row| {
            let allowlist = row
                .key
                .policy
                .ip_allowlist
                .iter()
                .filter_map(|e| app::keys::service::parse_allowlist_entry(e))
                .collect();
            let key = GatewayKey {
                id: row.key.id,
                account_id: row.key.account_id,
                prefix: row.key.prefix,
                secret_hash: row.secret_hash,
                status: row.key.status,
                suspended: row.suspended,
                policy: row.key.policy,
                allowlist,
            };
            (row.public_id, Arc::new(key))
        })
        .collect();
    let channels: HashMap<String, Arc<Channel>> = catalog_store::channels(&state.db)
        .await?
        .into_iter()
        .map(|record| {
            let credential = record.sealed_credential.and_then(|sealed| match state.credentials.decrypt(&sealed) {
                Ok(plain) => Some(SecretString::from(plain)),
                Err(err) => {
                    tracing::error!(channel = %record.view.id, error = %err, "channel credential unusable");
                    None
                }
            });
            (record.view.id.clone(), Arc::new(Channel::new(record.view, credential)))
        })
        .collect();
    let catalog = catalog_store::models(&state.db).await?;
    let model_codes = catalog.iter().map(|model| model.code.clone()).collect();
    let models = catalog
        .into_iter()
        .map(|view| {
            let targets = view
                .channels
                .iter()
                .filter_map(|link| {
                    let channel = channels.get(&link.channel_id)?.clone();
                    let upstream_model = link.upstream_model.clone().unwrap_or_else(|| view.code.clone());
                    Some(Target { channel, upstream_model })
                })
                .collect();
            (view.code.clone(), Arc::new(CatalogModel { view, targets }))
        })
        .collect();
    Ok(Snapshot { keys, models, model_codes })
}
