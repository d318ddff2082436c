//! Sign-in, password change and the signed-in user's view.

use super::{session, Credentials, Membership, PasswordChange, Viewer};
use crate::access::{AccountNeed, Caller};
use crate::accounts::store as accounts_store;
use crate::audit;
use crate::auth::password;
use crate::error::AppError;
use crate::state::AppState;
use crate::users::{service::validate_password, store as users_store, Status, UserView};
use tower_sessions::Session;

/// Checks the credentials and signs the session in. Unknown emails and wrong passwords
/// take the same path and get the same answer.
pub async fn sign_in(
    state: &AppState,
    session: &Session,
    credentials: &Credentials,
    ip: Option<String>,
) -> Result<UserView, AppError> {
    let email = users_store::normalize_email(&credentials.email);
    let attempt = state.throttle.begin(&email, ip.as_deref()).await?;
    let user = users_store::by_email(&state.db, &email).await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    if !password::verify(credentials.password.clone(), stored_hash).await? {
        tracing::info!(email_known = user.is_some(), "sign-in refused");
        return Err(AppError::InvalidCredentials);
    }
    attempt.succeeded().await;
    let user = user.ok_or(AppError::InvalidCredentials)?.view;
    if user.status != Status::Active {
        return Err(AppError::UserSuspended);
    }
    session::sign_in(session, &user.id).await?;
    tracing::info!(user_id = %user.id, "signed in");
    Ok(user)
}

/// Changes the caller's password, given the current one (throttled like signing in), and
/// ends every other session of theirs; `session`, when it is the caller's, carries on.
pub async fn change_password(
    state: &AppState,
    caller: &Caller,
    session: Option<&Session>,
    change: &PasswordChange,
) -> Result<(), AppError> {
    validate_password("new_password", &change.new_password)?;
    let attempt = state.throttle.begin(&caller.user.email, caller.ip.as_deref()).await?;
    let user = users_store::by_id(&state.db, &caller.user.id).await?.ok_or(AppError::Unauthenticated)?;
    if !password::verify(change.current_password.clone(), Some(user.password_hash)).await? {
        return Err(AppError::invalid("current_password", "The current password is not right."));
    }
    attempt.succeeded().await;
    let hash = password::hash(change.new_password.clone()).await?;
    users_store::set_password_hash(state.db.pool(), &caller.user.id, &hash).await?;
    session::end_others(&state.db, &caller.user.id, session).await?;
    audit::record(state, &caller.actor(), audit::Entry::new("user.password_change", "user", &caller.user.id)).await
}

pub async fn viewer(state: &AppState, caller: &Caller, session: Option<&Session>) -> Result<Viewer, AppError> {
    let accounts: Vec<Membership> = accounts_store::memberships_of(&state.db, &caller.user.id).await?;
    let chosen = match session {
        Some(session) => session::current_account(session).await?,
        None => None,
    };
    let current_account = chosen
        .filter(|id| accounts.iter().any(|m| &m.account_id == id))
        .or_else(|| accounts.first().map(|m| m.account_id.clone()));
    Ok(Viewer { user: caller.user.clone(), accounts, current_account })
}

pub async fn switch_account(
    state: &AppState,
    caller: &Caller,
    session: &Session,
    account_id: &str,
) -> Result<(), AppError> {
    caller.account(&state.db, account_id, AccountNeed::Use).await?;
    session::set_current_account(session, account_id).await
}
