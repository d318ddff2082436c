use crate::http::json::Json;
use app::access::Caller;
use app::error::AppError;
use app::state::AppState;
use app::tokens::{service, IssuedToken, NewToken, TokenView};
use axum::extract::{Path, State};
use axum::http::StatusCode;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Vec<TokenView>>, AppError> {
    Ok(axum::Json(service::list(&state, &caller).await?))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<NewToken>,
) -> Result<(StatusCode, axum::Json<IssuedToken>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create(&state, &caller, input).await?)))
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    service::revoke(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
