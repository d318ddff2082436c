use super::docs::{BadBody, Conflict, NotFound, Refused};
use crate::http::json::JsonBody;
use app::access::Caller;
use app::error::AppError;
use app::models::{service, ChannelChange, ChannelTest, ChannelView, ModelChange, ModelView, NewChannel, NewModel};
use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// The model catalog with status and prices (everyone signed in).
#[utoipa::path(
    get,
    path = "/models",
    operation_id = "list_models",
    tag = "catalog",
    responses((status = 200, description = "The models", body = [ModelView]), Refused)
)]
pub async fn models(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Vec<ModelView>>, AppError> {
    Ok(axum::Json(service::list_models(&state, &caller).await?))
}

/// Add a model to the catalog (admin).
#[utoipa::path(
    post,
    path = "/models",
    operation_id = "create_model",
    tag = "catalog",
    request_body = NewModel,
    responses((status = 201, description = "The new model", body = ModelView), BadBody, Refused, Conflict)
)]
pub async fn create_model(
    State(state): State<AppState>,
    caller: Caller,
    input: JsonBody<NewModel>,
) -> Result<(StatusCode, axum::Json<ModelView>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create_model(&state, &caller, input.deferred()).await?)))
}

/// Change a model: name, status, prices, limits, channels (admin). A cache price sent as
/// `null` is cleared: cache reads or writes are priced as input again.
#[utoipa::path(
    patch,
    path = "/models/{code}",
    operation_id = "change_model",
    tag = "catalog",
    params(("code" = String, Path, description = "The model's code, as clients send it")),
    request_body = ModelChange,
    responses((status = 200, description = "The model after the change", body = ModelView), BadBody, Refused, NotFound)
)]
pub async fn change_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    change: JsonBody<ModelChange>,
) -> Result<axum::Json<ModelView>, AppError> {
    Ok(axum::Json(service::change_model(&state, &caller, &code, change.deferred()).await?))
}

/// The channels (upstream providers); credentials are never returned (admin).
#[utoipa::path(
    get,
    path = "/channels",
    operation_id = "list_channels",
    tag = "catalog",
    responses((status = 200, description = "The channels", body = [ChannelView]), Refused)
)]
pub async fn channels(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Vec<ChannelView>>, AppError> {
    Ok(axum::Json(service::list_channels(&state, &caller).await?))
}

/// Add a channel; its credential is encrypted at rest and write-only (admin).
#[utoipa::path(
    post,
    path = "/channels",
    operation_id = "create_channel",
    tag = "catalog",
    request_body = NewChannel,
    responses((status = 201, description = "The new channel", body = ChannelView), BadBody, Refused, Conflict)
)]
pub async fn create_channel(
    State(state): State<AppState>,
    caller: Caller,
    input: JsonBody<NewChannel>,
) -> Result<(StatusCode, axum::Json<ChannelView>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create_channel(&state, &caller, input.deferred()).await?)))
}

/// Change a channel (admin).
#[utoipa::path(
    patch,
    path = "/channels/{id}",
    operation_id = "change_channel",
    tag = "catalog",
    params(("id" = String, Path, description = "The channel's id")),
    request_body = ChannelChange,
    responses((status = 200, description = "The channel after the change", body = ChannelView), BadBody, Refused, NotFound, Conflict)
)]
pub async fn change_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    change: JsonBody<ChannelChange>,
) -> Result<axum::Json<ChannelView>, AppError> {
    Ok(axum::Json(service::change_channel(&state, &caller, &id, change.deferred()).await?))
}

/// One small chat request through the channel; the outcome, failed or not, is the answer.
/// Not billed, no usage row; audited as `channel.test`.
#[utoipa::path(
    post,
    path = "/channels/{id}/test",
    operation_id = "test_channel",
    tag = "catalog",
    params(("id" = String, Path, description = "The channel's id")),
    responses(
        (status = 200, description = "What the upstream answered, or why it failed", body = ChannelTest),
        Conflict,
        Refused,
        NotFound
    )
)]
pub async fn test_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<ChannelTest>, AppError> {
    Ok(axum::Json(service::test_channel(&state, &caller, &id).await?))
}
