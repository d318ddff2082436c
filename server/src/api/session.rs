use crate::http::json::Json;
use app::access::Caller;
use app::auth::{service, session, Credentials, Viewer};
use app::error::AppError;
use app::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use std::net::SocketAddr;
use tower_sessions::Session;

pub async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    Json(credentials): Json<Credentials>,
) -> Result<axum::Json<Viewer>, AppError> {
    let user = service::sign_in(&state, &session, &credentials, Some(peer.ip().to_string())).await?;
    let caller = Caller { user, ip: Some(peer.ip().to_string()) };
    Ok(axum::Json(service::viewer(&state, &caller, Some(&session)).await?))
}

pub async fn sign_out(session: Session) -> Result<StatusCode, AppError> {
    session::sign_out(&session).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
    session: Session,
) -> Result<axum::Json<Viewer>, AppError> {
    Ok(axum::Json(service::viewer(&state, &caller, Some(&session)).await?))
}
