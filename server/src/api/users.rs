use crate::http::json::Json;
use app::access::Caller;
use app::error::AppError;
use app::state::AppState;
use app::users::{service, NewUser, UserChange, UserView};
use axum::extract::{Path, State};
use axum::http::StatusCode;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Vec<UserView>>, AppError> {
    Ok(axum::Json(service::list(&state, &caller).await?))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<NewUser>,
) -> Result<(StatusCode, axum::Json<UserView>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create(&state, &caller, input).await?)))
}

pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(change): Json<UserChange>,
) -> Result<axum::Json<UserView>, AppError> {
    Ok(axum::Json(service::change(&state, &caller, &id, change).await?))
}
