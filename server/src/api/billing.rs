use crate::http::json::Json;
use crate::http::query::Query;
use app::access::Caller;
use app::billing::{
    service, BalanceView, IssuedCodes, LedgerEntry, LedgerPage, LedgerQuery, NewCodes, NewCredit, Redemption,
};
use app::error::AppError;
use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

pub async fn balance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<BalanceView>, AppError> {
    Ok(axum::Json(service::balance(&state, &caller, &id).await?))
}

pub async fn ledger(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<LedgerQuery>,
) -> Result<axum::Json<LedgerPage>, AppError> {
    Ok(axum::Json(service::ledger(&state, &caller, &id, query).await?))
}

pub async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(input): Json<NewCredit>,
) -> Result<(StatusCode, axum::Json<LedgerEntry>), AppError> {
    let idempotency_key = headers
        .get(IDEMPOTENCY_KEY)
        .map(|value| {
            value.to_str().map_err(|_| AppError::invalid(IDEMPOTENCY_KEY, "The Idempotency-Key must be visible ASCII."))
        })
        .transpose()?;
    let entry = service::grant(&state, &caller, &id, input, idempotency_key).await?;
    Ok((StatusCode::CREATED, axum::Json(entry)))
}

pub async fn create_codes(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<NewCodes>,
) -> Result<(StatusCode, axum::Json<IssuedCodes>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create_codes(&state, &caller, input).await?)))
}

pub async fn redeem(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<Redemption>,
) -> Result<(StatusCode, axum::Json<LedgerEntry>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::redeem(&state, &caller, &id, input).await?)))
}
