use super::docs::{BadBody, NotFound, Refused};
use crate::http::json::JsonBody;
use app::access::Caller;
use app::error::AppError;
use app::state::AppState;
use app::tokens::{service, IssuedToken, NewToken, TokenView};
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// Every management token, newest first, without secrets (admin).
#[utoipa::path(
    get,
    path = "/tokens",
    operation_id = "list_tokens",
    tag = "tokens",
    responses((status = 200, description = "The tokens", body = [TokenView]), Refused)
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Vec<TokenView>>, AppError> {
    Ok(axum::Json(service::list(&state, &caller).await?))
}

/// Create a management token; the token is in the answer, this once (admin).
#[utoipa::path(
    post,
    path = "/tokens",
    operation_id = "create_token",
    tag = "tokens",
    request_body = NewToken,
    responses((status = 201, description = "The token and its secret, shown once", body = IssuedToken), BadBody, Refused)
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    input: JsonBody<NewToken>,
) -> Result<(StatusCode, axum::Json<IssuedToken>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create(&state, &caller, input.deferred()).await?)))
}

/// Revoke a management token: final (admin).
#[utoipa::path(
    delete,
    path = "/tokens/{id}",
    operation_id = "revoke_token",
    tag = "tokens",
    params(("id" = String, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked"), Refused, NotFound)
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    service::revoke(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
