//! What callers may do with users. Every operation takes the capability it needs.

use super::{store, NewUser, PlatformRole, Status, UserChange, UserView};
use crate::access::{Caller, Deferred};
use crate::audit;
use crate::auth::password;
use crate::db::Db;
use crate::error::AppError;
use crate::state::AppState;

pub const MIN_PASSWORD_LEN: usize = 12;

pub fn validate_email(email: &str) -> Result<(), AppError> {
    let email = email.trim();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.contains(char::is_whitespace);
    if valid {
        Ok(())
    } else {
        Err(AppError::invalid("email", format!("`{email}` is not an email address.")))
    }
}

/// `param` names the field the password came in, for the error.
pub fn validate_password(param: &str, password: &str) -> Result<(), AppError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AppError::invalid(
            param,
            format!("The password must have at least {MIN_PASSWORD_LEN} characters."),
        ));
    }
    Ok(())
}

pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<UserView>, AppError> {
    caller.staff_reader()?;
    store::list(&state.db).await
}

/// Creates a user without a caller: for the bootstrap admin and `tollgate user create`.
pub async fn create_unchecked(db: &Db, input: &NewUser) -> Result<UserView, AppError> {
    validate_email(&input.email)?;
    validate_password("password", &input.password)?;
    let hash = password::hash(input.password.clone()).await?;
    store::insert(db, &input.email, &hash, input.role).await
}

pub async fn create(state: &AppState, caller: &Caller, input: Deferred<NewUser>) -> Result<UserView, AppError> {
    let admin = caller.admin()?;
    let input = input.await?;
    let user = create_unchecked(&state.db, &input).await?;
    audit::record(state, admin.actor(), audit::Entry::new("user.create", "user", &user.id).after(&user)).await?;
    Ok(user)
}

pub async fn change(
    state: &AppState,
    caller: &Caller,
    id: &str,
    change: Deferred<UserChange>,
) -> Result<UserView, AppError> {
    let admin = caller.admin()?;
    let change = change.await?;
    let before = store::by_id(&state.db, id).await?.ok_or_else(|| AppError::not_found("user"))?.view;
    let role = change.role.unwrap_or(before.role);
    let status = change.status.unwrap_or(before.status);
    let demotes_itself = id == admin.actor().user_id && (role != PlatformRole::Admin || status != Status::Active);
    if demotes_itself {
        return Err(AppError::invalid("role", "Admins cannot demote or suspend themselves; ask another admin."));
    }
    store::update(&state.db, id, role, status).await?;
    let after = UserView { role, status, ..before.clone() };
    audit::record(state, admin.actor(), audit::Entry::new("user.change", "user", id).before(&before).after(&after))
        .await?;
    state.announce_catalog_change().await;
    Ok(after)
}
