//! Gathers the dashboard from the services that own each figure, so every figure follows
//! its owner's rules: money those of billing, keys those of keys.

use super::{Dashboard, ExpiringKey, HourTraffic, Money, Traffic, EXPIRY_WARNING_DAYS, HOURS};
use crate::access::{AccountNeed, AccountScope, Caller};
use crate::accounts::store as accounts_store;
use crate::billing::service as billing;
use crate::clock::now_ms;
use crate::error::AppError;
use crate::keys::{service as keys, KeyStatus};
use crate::state::AppState;
use crate::timefmt::{start_of_utc_hour, DAY_MS, HOUR_MS};
use crate::usage::store as usage;

pub async fn dashboard(state: &AppState, caller: &Caller, account_id: &str) -> Result<Dashboard, AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::Read).await?;
    let account =
        accounts_store::by_id(&state.db, scope.account_id()).await?.ok_or_else(|| AppError::not_found("account"))?;
    let now = now_ms();
    Ok(Dashboard {
        money: money(state, caller, &account.id, now).await?,
        traffic: traffic(state, &scope, now).await?,
        expiring_keys: expiring_keys(state, caller, &account.id, now).await?,
        account_id: account.id,
        account_name: account.name,
        account_status: account.status,
        role: scope.membership(),
        now,
    })
}

/// Balance and spend, or `None` for callers billing does not show money to (members).
async fn money(state: &AppState, caller: &Caller, account_id: &str, now: i64) -> Result<Option<Money>, AppError> {
    let balance = match billing::balance(state, caller, account_id).await {
        Ok(balance) => balance,
        Err(AppError::Forbidden) => return Ok(None),
        Err(other) => return Err(other),
    };
    let spend = billing::usage_spend(state, caller, account_id, now).await?;
    Ok(Some(Money { balance, spend }))
}

/// The current UTC hour and the 23 before it, from the usage log.
async fn traffic(state: &AppState, scope: &AccountScope, now: i64) -> Result<Traffic, AppError> {
    let to = start_of_utc_hour(now) + HOUR_MS;
    let from = to - HOURS as i64 * HOUR_MS;
    let mut hours: Vec<HourTraffic> = (0..HOURS as i64).map(|hour| HourTraffic::empty(from + hour * HOUR_MS)).collect();
    let mut total = HourTraffic::empty(from);
    for count in usage::hourly_by_layer(&state.db, scope.account_id(), from, to).await? {
        let index = (count.hour * HOUR_MS - from) / HOUR_MS;
        if let Some(hour) = usize::try_from(index).ok().and_then(|index| hours.get_mut(index)) {
            hour.add(count.error_layer.as_deref(), count.requests);
        }
        total.add(count.error_layer.as_deref(), count.requests);
    }
    Ok(Traffic { from, to, hours, total })
}

/// The keys the caller may see (as the keys page shows them) that expire within the warning period.
async fn expiring_keys(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
    now: i64,
) -> Result<Vec<ExpiringKey>, AppError> {
    let horizon = now + EXPIRY_WARNING_DAYS * DAY_MS;
    let mut expiring: Vec<ExpiringKey> = keys::list(state, caller, account_id)
        .await?
        .into_iter()
        .filter(|key| key.status != KeyStatus::Revoked)
        .filter_map(|key| {
            let expires_at = key.policy.expires_at.filter(|at| (now + 1..=horizon).contains(at))?;
            Some(ExpiringKey { id: key.id, name: key.name, prefix: key.prefix, expires_at })
        })
        .collect();
    expiring.sort_by_key(|key| key.expires_at);
    Ok(expiring)
}
