use app::access::Caller;
use app::error::AppError;
use app::state::AppState;
use app::usage::{service, RequestDetail, UsageFilter, UsagePage};
use axum::extract::{Path, Query, State};

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(request_id): Path<String>,
) -> Result<axum::Json<RequestDetail>, AppError> {
    Ok(axum::Json(service::get(&state, &caller, &request_id).await?))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
    filter: Result<Query<UsageFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<UsagePage>, AppError> {
    let Query(filter) = filter.map_err(|rejection| AppError::invalid("query", rejection.body_text()))?;
    Ok(axum::Json(service::list(&state, &caller, &account_id, &filter).await?))
}
