//! What callers may do with accounts and memberships.

use super::{store, AccountChange, AccountView, MemberView, MembershipRole, NewAccount, NewMember};
use crate::access::{AccountNeed, Caller, Deferred};
use crate::audit;
use crate::billing;
use crate::error::AppError;
use crate::state::AppState;
use crate::users::store as users_store;

const MAX_NAME_LEN: usize = 100;

fn validate_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(AppError::invalid("name", format!("The name must have 1 to {MAX_NAME_LEN} characters.")));
    }
    Ok(name.to_owned())
}

/// Admins and support see every account; everyone else the accounts they belong to, with
/// the money only where billing shows it to them (owners, not members).
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<AccountView>, AppError> {
    if caller.staff_reader().is_ok() {
        return store::list_all(&state.db).await;
    }
    let memberships = store::memberships_of(&state.db, &caller.user.id).await?;
    let role_in = |account_id: &str| {
        memberships.iter().find(|membership| membership.account_id == account_id).map(|membership| membership.role)
    };
    let accounts = store::list_of_user(&state.db, &caller.user.id).await?;
    Ok(accounts
        .into_iter()
        .map(|account| {
            let sees_money = caller.allows_in(role_in(&account.id), AccountNeed::ReadBilling);
            if sees_money {
                account
            } else {
                account.without_money()
            }
        })
        .collect())
}

pub async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<AccountView, AppError> {
    let scope = caller.account(&state.db, id, AccountNeed::Read).await?;
    let account = store::by_id(&state.db, scope.account_id()).await?.ok_or_else(|| AppError::not_found("account"))?;
    Ok(if scope.allows(AccountNeed::ReadBilling) { account } else { account.without_money() })
}

pub async fn create(state: &AppState, caller: &Caller, input: Deferred<NewAccount>) -> Result<AccountView, AppError> {
    let admin = caller.admin()?;
    let input = input.await?;
    let mut account = store::insert(&state.db, &validate_name(&input.name)?).await?;
    let entry = audit::Entry::new("account.create", "account", &account.id).account(&account.id).after(&account);
    audit::record(state, admin.actor(), entry).await?;
    let trial = billing::service::grant_trial(state, &admin, &account.id).await?;
    account.balance = account.balance.map(|balance| balance + trial);
    Ok(account)
}

pub async fn change(
    state: &AppState,
    caller: &Caller,
    id: &str,
    change: Deferred<AccountChange>,
) -> Result<AccountView, AppError> {
    // Visibility first: strangers get 404 whatever their role, so ids do not leak.
    let scope = caller.account(&state.db, id, AccountNeed::Read).await?;
    let admin = caller.admin()?;
    let change = change.await?;
    let before = store::by_id(&state.db, scope.account_id()).await?.ok_or_else(|| AppError::not_found("account"))?;
    if change.low_balance_threshold.is_some_and(|threshold| threshold < 0) {
        return Err(AppError::invalid("low_balance_threshold", "The low-balance threshold cannot be negative."));
    }
    let after = AccountView {
        status: change.status.unwrap_or(before.status),
        low_balance_threshold: change.low_balance_threshold.or(before.low_balance_threshold),
        ..before.clone()
    };
    store::update(&state.db, &after).await?;
    let entry = audit::Entry::new("account.change", "account", id).account(id).before(&before).after(&after);
    audit::record(state, admin.actor(), entry).await?;
    state.announce_catalog_change().await;
    Ok(after)
}

pub async fn members(state: &AppState, caller: &Caller, account_id: &str) -> Result<Vec<MemberView>, AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::Read).await?;
    store::members(&state.db, scope.account_id()).await
}

/// Adds a user to an account, or changes their role in it, at once: admins only, who
/// manage users anyway. Owners invite instead (`invitations`), and the user accepts.
pub async fn add_member(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
    input: Deferred<NewMember>,
) -> Result<MemberView, AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::Manage).await?;
    caller.admin()?;
    let input = input.await?;
    let user = users_store::by_id(&state.db, &input.user_id).await?.ok_or_else(|| AppError::not_found("user"))?.view;
    if input.role != MembershipRole::Owner {
        ensure_another_owner_remains(state, scope.account_id(), &user.id).await?;
    }
    store::upsert_member(&state.db, scope.account_id(), &user.id, input.role).await?;
    let member = MemberView { user_id: user.id, email: user.email, role: input.role };
    let entry =
        audit::Entry::new("member.set", "account", scope.account_id()).account(scope.account_id()).after(&member);
    audit::record(state, scope.actor(), entry).await?;
    Ok(member)
}

pub async fn add_member_by_email(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
    email: &str,
    role: MembershipRole,
) -> Result<MemberView, AppError> {
    caller.account(&state.db, account_id, AccountNeed::Manage).await?;
    caller.admin()?;
    let user = users_store::by_email(&state.db, email)
        .await?
        .ok_or_else(|| AppError::invalid("email", format!("No user has the email {}.", email.trim())))?;
    add_member(state, caller, account_id, Deferred::ready(NewMember { user_id: user.view.id, role })).await
}

pub async fn remove_member(state: &AppState, caller: &Caller, account_id: &str, user_id: &str) -> Result<(), AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::Manage).await?;
    ensure_another_owner_remains(state, scope.account_id(), user_id).await?;
    store::delete_member(&state.db, scope.account_id(), user_id).await?;
    let entry = audit::Entry::new("member.remove", "account", scope.account_id())
        .account(scope.account_id())
        .before(&serde_json::json!({ "user_id": user_id }));
    audit::record(state, scope.actor(), entry).await
}

/// An account keeps at least one owner, so somebody can always manage it.
pub(super) async fn ensure_another_owner_remains(
    state: &AppState,
    account_id: &str,
    user_id: &str,
) -> Result<(), AppError> {
    let is_owner = store::membership(&state.db, account_id, user_id).await? == Some(MembershipRole::Owner);
    if is_owner && store::owner_count(&state.db, account_id).await? <= 1 {
        return Err(AppError::invalid("user_id", "An account needs at least one owner; add another owner first."));
    }
    Ok(())
}

/// Makes `user` the owner of a new account named `name`, unless it exists (start-up seeding).
pub async fn ensure_owned_account(state: &AppState, name: &str, owner_id: &str) -> Result<AccountView, AppError> {
    let account = match store::by_name(&state.db, name).await? {
        Some(account) => account,
        None => store::insert(&state.db, name).await?,
    };
    if store::membership(&state.db, &account.id, owner_id).await?.is_none() {
        store::upsert_member(&state.db, &account.id, owner_id, MembershipRole::Owner).await?;
    }
    Ok(account)
}
