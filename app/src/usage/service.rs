//! Who may read which usage rows.

use super::{store, RequestDetail, RequestNames, UsageFilter, UsagePage, UsageRecord};
use crate::access::{AccountNeed, Caller};
use crate::accounts::store as accounts_store;
use crate::audit;
use crate::error::AppError;
use crate::keys::service as keys;
use crate::models::store as catalog;
use crate::state::AppState;
use crate::users::store as users_store;

/// One row by request id: admins and support see any (and the lookup is audited);
/// account members see their account's; everyone else gets 404.
pub async fn get(state: &AppState, caller: &Caller, request_id: &str) -> Result<RequestDetail, AppError> {
    let record = store::by_request_id(&state.db, request_id).await?.ok_or_else(|| AppError::not_found("request"))?;
    let staff = caller.staff_reader().is_ok();
    if staff {
        let entry = audit::Entry::new("usage.lookup", "request", request_id);
        let entry = match &record.account_id {
            Some(account_id) => entry.account(account_id),
            None => entry,
        };
        audit::record(state, &caller.actor(), entry).await?;
    } else {
        let account_id = record.account_id.as_deref().ok_or_else(|| AppError::not_found("request"))?;
        caller.account(&state.db, account_id, AccountNeed::Read).await.map_err(|_| AppError::not_found("request"))?;
    }
    let names = names(state, caller, &record, staff).await?;
    Ok(RequestDetail { record, names })
}

/// The names of the account, key and channels of a row the caller may read.
async fn names(state: &AppState, caller: &Caller, record: &UsageRecord, staff: bool) -> Result<RequestNames, AppError> {
    let account_name = match &record.account_id {
        Some(id) => accounts_store::by_id(&state.db, id).await?.map(|account| account.name),
        None => None,
    };
    // The keys service decides which keys the caller may see; a key it hides stays unnamed.
    let key = match &record.key_id {
        Some(id) => match keys::get(state, caller, id).await {
            Ok(key) => Some(key),
            Err(AppError::NotFound { .. }) => None,
            Err(other) => return Err(other),
        },
        None => None,
    };
    let key_owner_email = match (&key, staff) {
        (Some(key), true) => users_store::by_id(&state.db, &key.user_id).await?.map(|user| user.view.email),
        _ => None,
    };
    let touched: Vec<&str> = record
        .channel_id
        .iter()
        .chain(record.attempts.iter().map(|attempt| &attempt.channel_id))
        .map(String::as_str)
        .collect();
    let channel_names: std::collections::BTreeMap<String, String> = if touched.is_empty() {
        Default::default()
    } else {
        catalog::channels(&state.db)
            .await?
            .into_iter()
            .filter(|channel| touched.contains(&channel.view.id.as_str()))
            .map(|channel| (channel.view.id, channel.view.name))
            .collect()
    };
    Ok(RequestNames {
        account_name,
        key_name: key.as_ref().map(|key| key.name.clone()),
        key_prefix: key.map(|key| key.prefix),
        key_owner_email,
        channel_name: record.channel_id.as_ref().and_then(|id| channel_names.get(id).cloned()),
        channel_names,
    })
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
