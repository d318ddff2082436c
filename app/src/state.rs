//! Server state shared by the console's server functions and the management API.

use crate::access::Caller;
use crate::auth::throttle::SignInThrottle;
use crate::catalog_changes::CatalogChanges;
use crate::db::Db;
use crate::error::{AppError, ConsoleError};
use crate::instances::Instance;
use crate::limits::Limiter;
use crate::models::credential::CredentialCipher;
use crate::models::probe::ChannelProbe;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::{header, request::Parts, StatusCode};
use leptos::config::LeptosOptions;
use leptos::prelude::*;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub leptos_options: LeptosOptions,
    pub throttle: Arc<SignInThrottle>,
    /// Counts every rate limit, concurrency slot and throttle (in Redis when shared).
    pub limiter: Limiter,
    pub credentials: Arc<CredentialCipher>,
    /// Announced after every change to keys, models, channels, users or accounts, so the
    /// gateway's in-memory tables refresh before the change is answered.
    pub catalog_changes: Arc<CatalogChanges>,
    /// This instance's registration among those sharing the database.
    pub instance: Arc<Instance>,
    /// Micro-units credited to every new account (0: no trial credit).
    pub trial_credit: i64,
    /// Sends a channel's test request (the gateway's upstream client, installed at start-up).
    pub channel_probe: Arc<dyn ChannelProbe>,
}

impl AppState {
    /// Returns once the gateway of this instance enforces the change just committed; the
    /// other instances are told to reload too.
    pub async fn announce_catalog_change(&self) {
        crate::catalog_changes::tell_other_instances(&self.db, self.instance.id()).await;
        self.catalog_changes.announce().await
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// One server-function call: the state and the authenticated caller.
pub struct ServerCall {
    pub state: AppState,
    pub caller: Caller,
}

impl ServerCall {
    pub async fn begin() -> Result<ServerCall, AppError> {
        let state = use_context::<AppState>().ok_or_else(AppError::internal)?;
        let mut parts = request_parts()?;
        let caller = Caller::from_request_parts(&mut parts, &state).await?;
        Ok(ServerCall { state, caller })
    }

    /// The service's result as the console receives it (errors with their request id).
    pub fn finish<T>(&self, result: Result<T, AppError>) -> Result<T, ConsoleError> {
        result.map_err(ConsoleError::from)
    }
}

/// The head of the HTTP request a server function is serving.
pub fn request_parts() -> Result<Parts, AppError> {
    use_context::<Parts>().ok_or_else(AppError::internal)
}

/// The session of the request a server function is serving.
pub fn session() -> Result<tower_sessions::Session, AppError> {
    request_parts()?.extensions.get::<tower_sessions::Session>().cloned().ok_or_else(AppError::internal)
}

/// Sets the HTTP status of the current server function's response, unless a plain HTML
/// form posted it: the framework then redirects the browser back to the form.
pub fn set_response_status(status: u16) {
    if let (false, Some(response)) = (is_form_post(), use_context::<leptos_axum::ResponseOptions>()) {
        response.set_status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    }
}

/// Whether the current server function was called by a plain HTML form (no JavaScript):
/// the browser then follows a redirect back to the page instead of reading the result.
pub fn is_form_post() -> bool {
    use_context::<Parts>().is_some_and(|parts| {
        parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
    })
}

/// The `x-request-id` of the request being served. Page renders run their resources
/// outside the middleware's task, so they read it from the request head instead.
pub fn current_request_id() -> Option<String> {
    crate::request_id::current().or_else(|| {
        let parts = use_context::<Parts>()?;
        parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned)
    })
}

/// What every console render and server-function call gets in its context: the state, and
/// a fresh place for the flashes it takes.
pub fn provide_request_context(state: &AppState) {
    provide_context(state.clone());
    provide_context(TakenFlashes::default());
}

// A flash carries a value from a plain form post (no JavaScript) to the page the browser
// is redirected to, shown there once: a one-time secret, new codes, a test result. The
// session row holds it only sealed with the server's cipher (every instance has the same
// key), and the render that shows it removes it from the session.

pub async fn put_flash<T: serde::Serialize + Send + Sync>(key: &str, value: &T) -> Result<(), AppError> {
    let state = use_context::<AppState>().ok_or_else(AppError::internal)?;
    let json = serde_json::to_string(value).map_err(|_| AppError::internal())?;
    session()?.insert(key, state.credentials.encrypt(&json)).await.map_err(|_| AppError::internal())
}

/// The flashes one render took from the session, by key, in clear. A render may build the
/// page more than once, each build asking again; they all get what the first one took.
/// It lives as long as the render, in its context, and never in the session.
#[derive(Clone, Default)]
pub struct TakenFlashes(Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>);

impl TakenFlashes {
    fn get(&self, key: &str) -> Option<String> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(key).cloned()
    }

    fn keep(&self, key: &str, json: &str) {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(key.to_owned(), json.to_owned());
    }
}

/// The flash under `key` for this render; it is gone from the session once this returns it.
pub async fn take_flash<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>, AppError> {
    let taken = use_context::<TakenFlashes>();
    let json = match taken.as_ref().and_then(|taken| taken.get(key)) {
        Some(json) => json,
        None => {
            let Some(json) = unseal_from_session(key).await? else {
                return Ok(None);
            };
            if let Some(taken) = &taken {
                taken.keep(key, &json);
            }
            json
        }
    };
    serde_json::from_str(&json).map(Some).map_err(|_| AppError::internal())
}

/// Removes the sealed flash under `key` from the session and opens it.
async fn unseal_from_session(key: &str) -> Result<Option<String>, AppError> {
    let session = session()?;
    // Only touch the session when there is a flash: every write marks it modified, and
    // page views saving it could race with a form post writing it.
    let Some(sealed) = session.get::<String>(key).await.map_err(|_| AppError::internal())? else {
        return Ok(None);
    };
    session.remove_value(key).await.map_err(|_| AppError::internal())?;
    let state = use_context::<AppState>().ok_or_else(AppError::internal)?;
    match state.credentials.decrypt(&sealed) {
        Ok(json) => Ok(Some(json)),
        Err(err) => {
            // Sealed under another key (the key was changed in between): nothing to show.
            tracing::warn!(error = %err, "a flash in the session could not be opened");
            Ok(None)
        }
    }
}
