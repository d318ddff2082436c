use super::docs::{BadBody, Conflict, NotFound, Refused};
use crate::http::json::JsonBody;
use app::access::Caller;
use app::auth::{reset, IssuedResetLink};
use app::error::AppError;
use app::state::AppState;
use app::users::{service, NewUser, UserChange, UserView};
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;

/// Every user (admin; support reads).
#[utoipa::path(
    get,
    path = "/users",
    operation_id = "list_users",
    tag = "users",
    responses((status = 200, description = "Users by email", body = [UserView]), Refused)
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Vec<UserView>>, AppError> {
    Ok(axum::Json(service::list(&state, &caller).await?))
}

/// Create a user with a platform role (admin).
#[utoipa::path(
    post,
    path = "/users",
    operation_id = "create_user",
    tag = "users",
    request_body = NewUser,
    responses((status = 201, description = "The new user", body = UserView), BadBody, Refused, Conflict)
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    input: JsonBody<NewUser>,
) -> Result<(StatusCode, axum::Json<UserView>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create(&state, &caller, input.deferred()).await?)))
}

/// Change a user's platform role or suspend them (admin).
#[utoipa::path(
    patch,
    path = "/users/{id}",
    operation_id = "change_user",
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    request_body = UserChange,
    responses((status = 200, description = "The user after the change", body = UserView), BadBody, Refused, NotFound)
)]
pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    change: JsonBody<UserChange>,
) -> Result<axum::Json<UserView>, AppError> {
    Ok(axum::Json(service::change(&state, &caller, &id, change.deferred()).await?))
}

/// Issue a one-time password reset link for the user (admin): it works once, for 24 hours,
/// and replaces any earlier unused link. Shown this once; audited as `user.reset_link`.
#[utoipa::path(
    post,
    path = "/users/{id}/reset-link",
    operation_id = "create_reset_link",
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 201, description = "The link, shown once", body = IssuedResetLink), Refused, NotFound)
)]
pub async fn create_reset_link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<(StatusCode, axum::Json<IssuedResetLink>), AppError> {
    let mut issued = reset::issue(&state, &caller, &id).await?;
    issued.link = reset::link_on_request_origin(&parts, &issued.path);
    Ok((StatusCode::CREATED, axum::Json(issued)))
}
