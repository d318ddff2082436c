//! Server state shared by the console's server functions and the management API.

use crate::access::Caller;
use crate::auth::throttle::SignInThrottle;
use crate::catalog_changes::CatalogChanges;
use crate::db::Db;
use crate::error::{AppError, ConsoleError};
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
    pub credentials: Arc<CredentialCipher>,
    /// Announced after every change to keys, models, channels, users or accounts, so the
    /// gateway's in-memory tables refresh before the change is answered.
    pub catalog_changes: Arc<CatalogChanges>,
    /// Micro-units credited to every new account (0: no trial credit).
    pub trial_credit: i64,
    /// Sends a channel's test request (the gateway's upstream client, installed at start-up).
    pub channel_probe: Arc<dyn ChannelProbe>,
}

impl AppState {
    /// Returns once the gateway of this instance enforces the change just committed.
    pub async fn announce_catalog_change(&self) {
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

/// A value carried in the session from a plain form post (no JavaScript) to the page the
/// browser is redirected to, shown there once (a one-time secret, new codes).
#[derive(serde::Serialize, serde::Deserialize)]
struct Flash<T> {
    value: T,
    /// The `x-request-id` of the page render that showed it. That render may build the
    /// page more than once (it asks again and gets it again); any later request removes it.
    shown_in: Option<String>,
}

/// The `x-request-id` of the request being served. Page renders run their resources
/// outside the middleware's task, so they read it from the request head instead.
pub fn current_request_id() -> Option<String> {
    crate::request_id::current().or_else(|| {
        let parts = use_context::<Parts>()?;
        parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned)
    })
}

pub async fn put_flash<T: serde::Serialize + Send + Sync>(key: &str, value: &T) -> Result<(), AppError> {
    let flash = Flash { value, shown_in: None };
    session()?.insert(key, &flash).await.map_err(|_| AppError::internal())
}

/// The flash under `key` for this page render, once; later requests no longer see it.
pub async fn take_flash<T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync>(
    key: &str,
) -> Result<Option<T>, AppError> {
    let session = session()?;
    // Only touch the session when there is a flash: every write marks it modified, and
    // page views saving it could race with a form post writing it.
    let Some(mut flash) = session.get::<Flash<T>>(key).await.map_err(|_| AppError::internal())? else {
        return Ok(None);
    };
    let request_id = current_request_id();
    match (&flash.shown_in, &request_id) {
        (None, _) => {
            flash.shown_in = request_id;
            session.insert(key, &flash).await.map_err(|_| AppError::internal())?;
            Ok(Some(flash.value))
        }
        (Some(shown_in), Some(current)) if shown_in == current => Ok(Some(flash.value)),
        _ => {
            session.remove_value(key).await.map_err(|_| AppError::internal())?;
            Ok(None)
        }
    }
}
