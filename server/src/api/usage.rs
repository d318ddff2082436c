use super::docs::{BadQuery, NotFound, Refused};
use app::access::Caller;
use app::error::AppError;
use app::state::AppState;
use app::usage::{service, RequestDetail, UsageFilter, UsagePage};
use axum::extract::{Path, Query, State};

/// One request's usage row by request id: admin and support any (audited), members their account's.
#[utoipa::path(
    get,
    path = "/usage/{request_id}",
    operation_id = "get_usage",
    tag = "usage",
    params(("request_id" = String, Path, description = "The gateway's `x-request-id`")),
    responses((status = 200, description = "The usage row", body = RequestDetail), Refused, NotFound)
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(request_id): Path<String>,
) -> Result<axum::Json<RequestDetail>, AppError> {
    Ok(axum::Json(service::get(&state, &caller, &request_id).await?))
}

/// The account's usage rows, newest first, with keyset pagination.
#[utoipa::path(
    get,
    path = "/accounts/{id}/usage",
    operation_id = "list_usage",
    tag = "usage",
    params(("id" = String, Path, description = "The account's id"), UsageFilter),
    responses((status = 200, description = "One page of usage rows", body = UsagePage), BadQuery, Refused, NotFound)
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
    filter: Result<Query<UsageFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<UsagePage>, AppError> {
    let Query(filter) = filter.map_err(|rejection| AppError::invalid("query", rejection.body_text()))?;
    Ok(axum::Json(service::list(&state, &caller, &account_id, &filter).await?))
}
