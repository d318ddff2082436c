//! What callers may do with an account's money. Every change writes a ledger entry, moves
//! the balance and records the audit row in one transaction.

use super::ledger::{self, Posting};
use super::{
    codes, BalanceView, IssuedCodes, LedgerEntry, LedgerKind, LedgerPage, LedgerQuery, NewCodes, NewCredit, Redemption,
    UsageSpend,
};
use crate::access::{AccountNeed, AdminOps, Caller, Deferred};
use crate::audit;
use crate::clock::{new_id, now_ms};
use crate::error::AppError;
use crate::state::AppState;
use crate::timefmt;

/// A billion credits: far above any real top-up, far below where sums could overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000 * crate::money::MICROS_PER_CREDIT;
pub const MAX_CODES_PER_BATCH: u32 = 1_000;
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;
const MAX_NOTE_LEN: usize = 500;
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// The idempotency key of the trial credit: an account gets it at most once.
const TRIAL_KEY: &str = "trial";

fn validate_amount(amount: i64) -> Result<i64, AppError> {
    if (1..=MAX_AMOUNT).contains(&amount) {
        Ok(amount)
    } else {
        Err(AppError::invalid("amount", format!("The amount must be 1 to {MAX_AMOUNT} micro-units.")))
    }
}

fn validate_note(note: &str) -> Result<&str, AppError> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > MAX_NOTE_LEN {
        return Err(AppError::invalid("note", format!("Say why in a note of 1 to {MAX_NOTE_LEN} characters.")));
    }
    Ok(note)
}

fn validate_idempotency_key(key: &str) -> Result<&str, AppError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        let message = format!("The Idempotency-Key header must have 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters.");
        return Err(AppError::invalid("Idempotency-Key", message));
    }
    Ok(key)
}

pub async fn balance(state: &AppState, caller: &Caller, account_id: &str) -> Result<BalanceView, AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::ReadBilling).await?;
    ledger::balance(&state.db, scope.account_id()).await?.ok_or_else(|| AppError::not_found("account"))
}

/// What the account's requests cost today and this month (UTC), as of `now`.
pub async fn usage_spend(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
    now: i64,
) -> Result<UsageSpend, AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::ReadBilling).await?;
    let (day_start, month_start) = (timefmt::start_of_utc_day(now), timefmt::start_of_utc_month(now));
    ledger::usage_spend(&state.db, scope.account_id(), day_start, month_start).await
}

pub async fn ledger(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
    query: LedgerQuery,
) -> Result<LedgerPage, AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::ReadBilling).await?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(AppError::invalid("limit", format!("The limit must be 1 to {MAX_PAGE_SIZE}.")));
    }
    let cursor = query.cursor.as_deref().filter(|cursor| !cursor.is_empty());
    ledger::page(&state.db, scope.account_id(), cursor, limit).await
}

/// An admin's credit grant. Repeated with the same idempotency key it answers with the
/// original entry and credits nothing more.
pub async fn grant(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
    input: Deferred<NewCredit>,
    idempotency_key: Deferred<Option<String>>,
) -> Result<LedgerEntry, AppError> {
    // Visibility first: strangers get 404 whatever their role, so ids do not leak.
    let scope = caller.account(&state.db, account_id, AccountNeed::Read).await?;
    let admin = caller.admin()?;
    let (input, idempotency_key) = (input.await?, idempotency_key.await?);
    let posting = Posting {
        idempotency_key: idempotency_key.as_deref().map(validate_idempotency_key).transpose()?,
        note: validate_note(&input.note)?,
        created_by: Some(&admin.actor().user_id),
        ..Posting::new(LedgerKind::Grant, scope.account_id(), validate_amount(input.amount)?)
    };
    let mut tx = state.db.pool().begin().await?;
    let Some(entry) = ledger::credit(&mut tx, &posting).await? else {
        tx.rollback().await?;
        return replayed_grant(state, &posting).await;
    };
    let audit_entry = audit::Entry::new("billing.grant", "account", &entry.account_id).account(&entry.account_id);
    audit::record_in(&mut *tx, admin.actor(), audit_entry.after(&entry)).await?;
    tx.commit().await?;
    Ok(entry)
}

/// The entry an earlier grant with this idempotency key wrote, if it asked for the same.
async fn replayed_grant(state: &AppState, posting: &Posting<'_>) -> Result<LedgerEntry, AppError> {
    let key = posting.idempotency_key.ok_or_else(AppError::internal)?;
    let original =
        ledger::by_idempotency_key(&state.db, posting.account_id, key).await?.ok_or_else(AppError::internal)?;
    let same_request =
        original.kind == posting.kind && original.amount == posting.amount && original.note == posting.note;
    if !same_request {
        return Err(AppError::Conflict(
            "This Idempotency-Key was used for a different credit to this account; use a new key.".to_owned(),
        ));
    }
    Ok(original)
}

/// Credits a new account with the configured trial amount (none when it is 0); returns it.
pub async fn grant_trial(state: &AppState, admin: &AdminOps, account_id: &str) -> Result<i64, AppError> {
    if state.trial_credit <= 0 {
        return Ok(0);
    }
    let posting = Posting {
        idempotency_key: Some(TRIAL_KEY),
        note: "trial credit",
        created_by: Some(&admin.actor().user_id),
        ..Posting::new(LedgerKind::Trial, account_id, state.trial_credit)
    };
    let mut tx = state.db.pool().begin().await?;
    let Some(entry) = ledger::credit(&mut tx, &posting).await? else {
        tx.rollback().await?;
        return Ok(0);
    };
    let audit_entry = audit::Entry::new("billing.trial", "account", account_id).account(account_id).after(&entry);
    audit::record_in(&mut *tx, admin.actor(), audit_entry).await?;
    tx.commit().await?;
    Ok(entry.amount)
}

/// Creates a batch of single-use codes worth `amount` each; the codes are returned this once.
pub async fn create_codes(
    state: &AppState,
    caller: &Caller,
    input: Deferred<NewCodes>,
) -> Result<IssuedCodes, AppError> {
    let admin = caller.admin()?;
    let input = input.await?;
    let amount = validate_amount(input.amount)?;
    if !(1..=MAX_CODES_PER_BATCH).contains(&input.count) {
        return Err(AppError::invalid("count", format!("A batch has 1 to {MAX_CODES_PER_BATCH} codes.")));
    }
    if input.expires_at.is_some_and(|expires_at| expires_at <= now_ms()) {
        return Err(AppError::invalid("expires_at", "The expiry (unix milliseconds) must be in the future."));
    }
    let issued: Vec<codes::IssuedCode> = (0..input.count).map(|_| codes::issue()).collect();
    let mut tx = state.db.pool().begin().await?;
    codes::insert(&mut tx, &issued, amount, input.expires_at, &admin.actor().user_id).await?;
    let hints: Vec<&str> = issued.iter().map(|code| code.hint.as_str()).collect();
    let batch = serde_json::json!({ "amount": amount, "expires_at": input.expires_at, "hints": hints });
    let audit_entry = audit::Entry::new("billing.codes.create", "redemption_code_batch", &new_id()).after(&batch);
    audit::record_in(&mut *tx, admin.actor(), audit_entry).await?;
    tx.commit().await?;
    Ok(IssuedCodes { amount, expires_at: input.expires_at, codes: issued.into_iter().map(|code| code.code).collect() })
}

/// Tops the account up with a code; each code credits exactly one account, once.
pub async fn redeem(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
    input: Deferred<Redemption>,
) -> Result<LedgerEntry, AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::Manage).await?;
    let input = input.await?;
    let hash = codes::hash_of_typed(&input.code).ok_or(AppError::UnknownRedemptionCode)?;
    let mut tx = state.db.pool().begin().await?;
    let Some(claimed) = codes::claim(&mut tx, &hash, scope.account_id()).await? else {
        tx.rollback().await?;
        return Err(codes::refusal(&state.db, &hash).await?);
    };
    let posting = Posting {
        redemption_code: Some(&claimed.hint),
        created_by: Some(&scope.actor().user_id),
        ..Posting::new(LedgerKind::Redemption, scope.account_id(), claimed.amount)
    };
    let entry = ledger::credit(&mut tx, &posting).await?.ok_or_else(AppError::internal)?;
    let audit_entry = audit::Entry::new("billing.redeem", "account", scope.account_id()).account(scope.account_id());
    audit::record_in(&mut *tx, scope.actor(), audit_entry.after(&entry)).await?;
    tx.commit().await?;
    Ok(entry)
}

/// Credits `amount` once per `idempotency_key` with no caller: start-up seeding (the
/// demo account of `make run`). The ledger entry is its record.
pub async fn seed_credit(
    state: &AppState,
    account_id: &str,
    amount: i64,
    idempotency_key: &str,
) -> Result<(), AppError> {
    let posting = Posting {
        idempotency_key: Some(idempotency_key),
        note: "demo credit",
        ..Posting::new(LedgerKind::Grant, account_id, amount)
    };
    let mut tx = state.db.pool().begin().await?;
    ledger::credit(&mut tx, &posting).await?;
    tx.commit().await?;
    Ok(())
}
