//! Authenticating the caller of a console or management request: a session cookie or a
//! management token (`Authorization: Bearer tgm-...`).

use crate::auth::session;
use crate::error::AppError;
use crate::state::AppState;
use crate::tokens;
use crate::users::{store as users_store, Status, UserView};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{header, request::Parts};
use std::net::SocketAddr;
use tower_sessions::Session;

/// An authenticated, active user.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserView,
    pub ip: Option<String>,
}

/// The peer address as the server saw it; the console does not trust forwarded headers.
pub fn peer_ip(parts: &Parts) -> Option<String> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip().to_string())
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::trim)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = peer_ip(parts);
        let user_id = if let Some(token) = bearer_token(parts) {
            tokens::service::authenticate(state, token).await?
        } else {
            let session = Session::from_request_parts(parts, state).await.map_err(|_| AppError::internal())?;
            session::signed_in_user(&session).await?.ok_or(AppError::Unauthenticated)?
        };
        let user = users_store::by_id(&state.db, &user_id).await?.ok_or(AppError::Unauthenticated)?.view;
        if user.status != Status::Active {
            return Err(AppError::UserSuspended);
        }
        Ok(Caller { user, ip })
    }
}
