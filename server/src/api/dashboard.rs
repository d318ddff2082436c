use app::access::Caller;
use app::dashboard::{service, Dashboard};
use app::error::AppError;
use app::state::AppState;
use axum::extract::{Path, State};

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
) -> Result<axum::Json<Dashboard>, AppError> {
    Ok(axum::Json(service::dashboard(&state, &caller, &account_id).await?))
}
