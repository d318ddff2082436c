use crate::http::json::Json;
use app::access::Caller;
use app::accounts::{service, AccountChange, AccountView, MemberView, NewAccount, NewMember};
use app::error::AppError;
use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Vec<AccountView>>, AppError> {
    Ok(axum::Json(service::list(&state, &caller).await?))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<AccountView>, AppError> {
    Ok(axum::Json(service::get(&state, &caller, &id).await?))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<NewAccount>,
) -> Result<(StatusCode, axum::Json<AccountView>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create(&state, &caller, input).await?)))
}

pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(change): Json<AccountChange>,
) -> Result<axum::Json<AccountView>, AppError> {
    Ok(axum::Json(service::change(&state, &caller, &id, change).await?))
}

pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<MemberView>>, AppError> {
    Ok(axum::Json(service::members(&state, &caller, &id).await?))
}

pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<NewMember>,
) -> Result<(StatusCode, axum::Json<MemberView>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::add_member(&state, &caller, &id, input).await?)))
}

pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    service::remove_member(&state, &caller, &id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
