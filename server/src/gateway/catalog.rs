//! The hot path's view of keys, models and channels: loaded from the database into
//! memory, swapped atomically, refreshed on every management change and on an interval
//! (for changes made through other instances).

use app::error::AppError;
use app::keys::{store as keys_store, KeyPolicy, KeyStatus};
use app::models::{store as catalog_store, ChannelView, ModelView, Protocol};
use app::state::AppState;
use arc_swap::ArcSwap;
use ipnet::IpNet;
use secrecy::SecretString;
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
    /// Where this channel's requests go, parsed once here rather than on every request;
    /// a base URL that does not parse is kept as text, and every call to it fails.
    pub endpoint: Result<reqwest::Url, String>,
    pub credential: Option<SecretString>,
    pub priority: i64,
    pub weight: i64,
    pub enabled: bool,
    pub timeout: Duration,
}

impl Channel {
    pub fn new(view: ChannelView, credential: Option<SecretString>) -> Channel {
        let endpoint = match view.protocol {
            Protocol::Anthropic => format!("{}/v1/messages", view.base_url),
            _ => format!("{}/chat/completions", view.base_url),
        };
        Channel {
            id: view.id,
            protocol: view.protocol,
            endpoint: reqwest::Url::parse(&endpoint).map_err(|_| endpoint),
            credential,
            priority: view.priority,
            weight: view.weight,
            enabled: view.enabled,
            timeout: Duration::from_millis(view.timeout_ms.max(1) as u64),
        }
    }
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

    /// Reloads after every announced change, and at least every `interval`.
    pub async fn keep_fresh(self: Arc<Self>, state: AppState, interval: Duration) {
        loop {
            tokio::select! {
                () = state.catalog_changed.notified() => {}
                () = tokio::time::sleep(interval) => {}
            }
            if let Err(err) = self.refresh(&state).await {
                tracing::warn!(error = %err, "could not refresh the gateway catalog; keeping the last one");
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
