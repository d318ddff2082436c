use super::docs::{BadBody, Conflict, NotFound, Refused};
use crate::http::json::JsonBody;
use app::access::Caller;
use app::error::AppError;
use app::keys::{service, IssuedKey, KeyChange, KeyView, NewKey};
use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// The account's keys: all of them for owners, admin and support, their own for members.
#[utoipa::path(
    get,
    path = "/accounts/{id}/keys",
    operation_id = "list_keys",
    tag = "keys",
    params(("id" = String, Path, description = "The account's id")),
    responses((status = 200, description = "The keys, newest first", body = [KeyView]), Refused, NotFound)
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
) -> Result<axum::Json<Vec<KeyView>>, AppError> {
    Ok(axum::Json(service::list(&state, &caller, &account_id).await?))
}

/// Create a key; its secret is in the answer, this once.
#[utoipa::path(
    post,
    path = "/accounts/{id}/keys",
    operation_id = "create_key",
    tag = "keys",
    params(("id" = String, Path, description = "The account's id")),
    request_body = NewKey,
    responses((status = 201, description = "The key and its secret, shown once", body = IssuedKey), BadBody, Refused, NotFound)
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
    input: JsonBody<NewKey>,
) -> Result<(StatusCode, axum::Json<IssuedKey>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create(&state, &caller, &account_id, input.deferred()).await?)))
}

/// One key.
#[utoipa::path(
    get,
    path = "/keys/{id}",
    operation_id = "get_key",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, description = "The key", body = KeyView), Refused, NotFound)
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<KeyView>, AppError> {
    Ok(axum::Json(service::get(&state, &caller, &id).await?))
}

/// Rename a key, enable or disable it, change its policy (`null` clears a limit).
#[utoipa::path(
    patch,
    path = "/keys/{id}",
    operation_id = "change_key",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    request_body = KeyChange,
    responses((status = 200, description = "The key after the change", body = KeyView), BadBody, Refused, NotFound, Conflict)
)]
pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    change: JsonBody<KeyChange>,
) -> Result<axum::Json<KeyView>, AppError> {
    Ok(axum::Json(service::change(&state, &caller, &id, change.deferred()).await?))
}

/// Revoke a key: final, it never works again.
#[utoipa::path(
    post,
    path = "/keys/{id}/revoke",
    operation_id = "revoke_key",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, description = "The revoked key", body = KeyView), Refused, NotFound)
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<KeyView>, AppError> {
    Ok(axum::Json(service::revoke(&state, &caller, &id).await?))
}
