use super::docs::{BadBody, Refused};
use crate::http::json::Json;
use app::access::Caller;
use app::auth::{reset, service, session, Credentials, PasswordChange, PasswordReset, Viewer};
use app::error::{AppError, ErrorBody};
use app::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use std::net::SocketAddr;
use tower_sessions::Session;

/// Sign in: sets the session cookie.
#[utoipa::path(
    post,
    path = "/session",
    operation_id = "sign_in",
    tag = "session",
    security(()),
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = Viewer),
        (status = 401, description = "Wrong email or password (`invalid_credentials`), or a suspended user", body = ErrorBody),
        (status = 429, description = "Too many attempts (`too_many_attempts`, with `Retry-After`)", body = ErrorBody),
        BadBody,
    )
)]
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

/// Sign out: ends the session (nothing to do when there is none).
#[utoipa::path(
    delete,
    path = "/session",
    operation_id = "sign_out",
    tag = "session",
    security(()),
    responses((status = 204, description = "Signed out"))
)]
pub async fn sign_out(session: Session) -> Result<StatusCode, AppError> {
    session::sign_out(&session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user, their platform role and their accounts.
#[utoipa::path(
    get,
    path = "/me",
    operation_id = "get_me",
    tag = "session",
    responses((status = 200, description = "Who is signed in", body = Viewer), Refused)
)]
pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
    session: Session,
) -> Result<axum::Json<Viewer>, AppError> {
    Ok(axum::Json(service::viewer(&state, &caller, Some(&session)).await?))
}

/// Change the signed-in user's password, given the current one. Every other session of
/// the user ends; the session that asked carries on (under a new id).
#[utoipa::path(
    put,
    path = "/me/password",
    operation_id = "change_password",
    tag = "session",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; the user's other sessions are signed out"),
        BadBody,
        Refused,
        (status = 429, description = "Too many wrong passwords (`too_many_attempts`, with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    session: Session,
    Json(change): Json<PasswordChange>,
) -> Result<StatusCode, AppError> {
    service::change_password(&state, &caller, Some(&session), &change).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set a new password with a one-time reset link's token (issued by an admin with
/// `POST /users/{id}/reset-link`); no sign-in needed. Every session of the user ends.
#[utoipa::path(
    post,
    path = "/password-reset",
    operation_id = "reset_password",
    tag = "session",
    security(()),
    request_body = PasswordReset,
    responses(
        (status = 204, description = "The new password is set; the user is signed out everywhere"),
        BadBody,
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(input): Json<PasswordReset>,
) -> Result<StatusCode, AppError> {
    reset::redeem(&state, &input, Some(peer.ip().to_string())).await?;
    Ok(StatusCode::NO_CONTENT)
}
