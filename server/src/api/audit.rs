use super::docs::{BadQuery, Refused};
use crate::http::query::Query;
use app::access::Caller;
use app::audit::{service, AuditFilter, AuditPage};
use app::error::AppError;
use app::state::AppState;
use axum::extract::State;

/// The audit log, newest first, with keyset pagination (admin).
#[utoipa::path(
    get,
    path = "/audit",
    operation_id = "list_audit",
    tag = "audit",
    params(AuditFilter),
    responses((status = 200, description = "One page of the audit log", body = AuditPage), BadQuery, Refused)
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<AuditFilter>,
) -> Result<axum::Json<AuditPage>, AppError> {
    Ok(axum::Json(service::list(&state, &caller, filter).await?))
}
