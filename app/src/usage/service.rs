//! Who may read which usage rows.

use super::{store, UsageFilter, UsagePage, UsageRecord};
use crate::access::{AccountNeed, Caller};
use crate::audit;
use crate::error::AppError;
use crate::state::AppState;

/// One row by request id: admins and support see any (and the lookup is audited);
/// account members see their account's; everyone else gets 404.
pub async fn get(state: &AppState, caller: &Caller, request_id: &str) -> Result<UsageRecord, AppError> {
    let row = store::by_request_id(&state.db, request_id).await?.ok_or_else(|| AppError::not_found("request"))?;
    if caller.staff_reader().is_ok() {
        let entry = audit::Entry::new("usage.lookup", "request", request_id);
        let entry = match &row.account_id {
            Some(account_id) => entry.account(account_id),
            None => entry,
        };
        audit::record(state, &caller.actor(), entry).await?;
        return Ok(row);
    }
    let account_id = row.account_id.as_deref().ok_or_else(|| AppError::not_found("request"))?;
    caller.account(&state.db, account_id, AccountNeed::Read).await.map_err(|_| AppError::not_found("request"))?;
    Ok(row)
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
    filter: &UsageFilter,
) -> Result<UsagePage, AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::Read).await?;
    store::list(&state.db, scope.account_id(), filter).await
}
