use super::docs::{NotFound, Refused};
use app::access::Caller;
use app::dashboard::{service, Dashboard};
use app::error::AppError;
use app::state::AppState;
use axum::extract::{Path, State};

/// One account's dashboard: balance and spend (not for members), requests per hour by
/// refusing layer over the last 24 hours, keys about to expire.
#[utoipa::path(
    get,
    path = "/accounts/{id}/dashboard",
    operation_id = "get_dashboard",
    tag = "usage",
    params(("id" = String, Path, description = "The account's id")),
    responses((status = 200, description = "The account's dashboard", body = Dashboard), Refused, NotFound)
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
) -> Result<axum::Json<Dashboard>, AppError> {
    Ok(axum::Json(service::dashboard(&state, &caller, &account_id).await?))
}
