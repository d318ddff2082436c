//! Who may read the audit log: platform admins, and nobody else.

use super::{store, AuditFilter, AuditPage};
use crate::access::Caller;
use crate::error::AppError;
use crate::state::AppState;
use crate::users::store as users_store;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;

/// Plain HTML forms send empty fields: an empty filter is no filter.
fn given(value: Option<String>) -> Option<String> {
    value.map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

/// One page of the log, newest first. The actor may be given as an email (the console's
/// filter); it is looked up here so the query filters on the indexed user id.
pub async fn list(state: &AppState, caller: &Caller, filter: AuditFilter) -> Result<AuditPage, AppError> {
    caller.admin()?;
    let limit = filter.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(AppError::invalid("limit", format!("The limit must be 1 to {MAX_PAGE_SIZE}.")));
    }
    let mut filter = AuditFilter {
        action: given(filter.action),
        actor: given(filter.actor),
        account: given(filter.account),
        cursor: given(filter.cursor),
        ..filter
    };
    if let Some(email) = filter.actor.as_deref().filter(|actor| actor.contains('@')) {
        match users_store::by_email(&state.db, email).await? {
            Some(user) => filter.actor = Some(user.view.id),
            // Nobody has this email, so nobody with it changed anything.
            None => return Ok(AuditPage { entries: Vec::new(), next_cursor: None }),
        }
    }
    store::page(&state.db, &filter, limit).await
}
