use crate::http::json::Json;
use app::access::Caller;
use app::error::AppError;
use app::models::{service, ChannelChange, ChannelTest, ChannelView, ModelChange, ModelView, NewChannel, NewModel};
use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;

pub async fn models(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Vec<ModelView>>, AppError> {
    Ok(axum::Json(service::list_models(&state, &caller).await?))
}

pub async fn create_model(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<NewModel>,
) -> Result<(StatusCode, axum::Json<ModelView>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create_model(&state, &caller, input).await?)))
}

pub async fn change_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Json(change): Json<ModelChange>,
) -> Result<axum::Json<ModelView>, AppError> {
    Ok(axum::Json(service::change_model(&state, &caller, &code, change).await?))
}

pub async fn channels(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Vec<ChannelView>>, AppError> {
    Ok(axum::Json(service::list_channels(&state, &caller).await?))
}

pub async fn create_channel(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<NewChannel>,
) -> Result<(StatusCode, axum::Json<ChannelView>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create_channel(&state, &caller, input).await?)))
}

pub async fn change_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(change): Json<ChannelChange>,
) -> Result<axum::Json<ChannelView>, AppError> {
    Ok(axum::Json(service::change_channel(&state, &caller, &id, change).await?))
}

/// One small chat request through the channel; the outcome, failed or not, is the answer.
pub async fn test_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<ChannelTest>, AppError> {
    Ok(axum::Json(service::test_channel(&state, &caller, &id).await?))
}
