use crate::http::json::Json;
use app::access::Caller;
use app::error::AppError;
use app::keys::{service, IssuedKey, KeyChange, KeyView, NewKey};
use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
) -> Result<axum::Json<Vec<KeyView>>, AppError> {
    Ok(axum::Json(service::list(&state, &caller, &account_id).await?))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
    Json(input): Json<NewKey>,
) -> Result<(StatusCode, axum::Json<IssuedKey>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create(&state, &caller, &account_id, input).await?)))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<KeyView>, AppError> {
    Ok(axum::Json(service::get(&state, &caller, &id).await?))
}

pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(change): Json<KeyChange>,
) -> Result<axum::Json<KeyView>, AppError> {
    Ok(axum::Json(service::change(&state, &caller, &id, change).await?))
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<KeyView>, AppError> {
    Ok(axum::Json(service::revoke(&state, &caller, &id).await?))
}
