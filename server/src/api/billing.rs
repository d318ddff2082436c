use super::docs::{BadBody, BadQuery, Conflict, NotFound, Refused};
use crate::http::json::JsonBody;
use crate::http::query::Query;
use app::access::{Caller, Deferred};
use app::billing::{
    service, BalanceView, IssuedCodes, LedgerEntry, LedgerPage, LedgerQuery, NewCodes, NewCredit, Redemption,
};
use app::error::{AppError, ErrorBody};
use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The account's balance, reservations and low-balance flag (owners, admin, support).
#[utoipa::path(
    get,
    path = "/accounts/{id}/balance",
    operation_id = "get_balance",
    tag = "billing",
    params(("id" = String, Path, description = "The account's id")),
    responses((status = 200, description = "The balance", body = BalanceView), Refused, NotFound)
)]
pub async fn balance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<BalanceView>, AppError> {
    Ok(axum::Json(service::balance(&state, &caller, &id).await?))
}

/// The account's ledger, newest first, with keyset pagination (owners, admin, support).
#[utoipa::path(
    get,
    path = "/accounts/{id}/ledger",
    operation_id = "list_ledger",
    tag = "billing",
    params(("id" = String, Path, description = "The account's id"), LedgerQuery),
    responses((status = 200, description = "One page of the ledger", body = LedgerPage), BadQuery, Refused, NotFound)
)]
pub async fn ledger(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<LedgerQuery>,
) -> Result<axum::Json<LedgerPage>, AppError> {
    Ok(axum::Json(service::ledger(&state, &caller, &id, query).await?))
}

/// Grant credit (admin); repeating it with the same `Idempotency-Key` credits nothing more.
#[utoipa::path(
    post,
    path = "/accounts/{id}/credits",
    operation_id = "grant_credit",
    tag = "billing",
    params(
        ("id" = String, Path, description = "The account's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key answers with the original entry"),
    ),
    request_body = NewCredit,
    responses((status = 201, description = "The ledger entry", body = LedgerEntry), BadBody, Refused, NotFound, Conflict)
)]
pub async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    input: JsonBody<NewCredit>,
) -> Result<(StatusCode, axum::Json<LedgerEntry>), AppError> {
    let idempotency_key = Deferred::parse(move || {
        let key = headers.get(IDEMPOTENCY_KEY).map(|value| {
            value.to_str().map_err(|_| AppError::invalid(IDEMPOTENCY_KEY, "The Idempotency-Key must be visible ASCII."))
        });
        Ok(key.transpose()?.map(str::to_owned))
    });
    let entry = service::grant(&state, &caller, &id, input.deferred(), idempotency_key).await?;
    Ok((StatusCode::CREATED, axum::Json(entry)))
}

/// Create single-use redemption codes (admin); the codes are in the answer, this once.
#[utoipa::path(
    post,
    path = "/redemption-codes",
    operation_id = "create_redemption_codes",
    tag = "billing",
    request_body = NewCodes,
    responses((status = 201, description = "The codes, shown once", body = IssuedCodes), BadBody, Refused)
)]
pub async fn create_codes(
    State(state): State<AppState>,
    caller: Caller,
    input: JsonBody<NewCodes>,
) -> Result<(StatusCode, axum::Json<IssuedCodes>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create_codes(&state, &caller, input.deferred()).await?)))
}

/// Top the account up with a redemption code (admin, the account's owners).
#[utoipa::path(
    post,
    path = "/accounts/{id}/redeem",
    operation_id = "redeem_code",
    tag = "billing",
    params(("id" = String, Path, description = "The account's id")),
    request_body = Redemption,
    responses(
        (status = 201, description = "The ledger entry", body = LedgerEntry),
        (status = 404, description = "No such account, or no such code (`unknown_redemption_code`)", body = ErrorBody),
        (status = 409, description = "The code was used already (`redemption_code_used`)", body = ErrorBody),
        (status = 410, description = "The code has expired (`redemption_code_expired`)", body = ErrorBody),
        BadBody,
        Refused,
    )
)]
pub async fn redeem(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    input: JsonBody<Redemption>,
) -> Result<(StatusCode, axum::Json<LedgerEntry>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::redeem(&state, &caller, &id, input.deferred()).await?)))
}
