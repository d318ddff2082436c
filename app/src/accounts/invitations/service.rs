//! Who may invite, and answering an invitation. Owners and admins invite; only the person
//! with the invited email answers, and accepting is what makes them a member.

use super::{store, InvitationView, NewInvitation};
use crate::access::{AccountNeed, Caller};
use crate::accounts::{service::ensure_another_owner_remains, store as accounts_store, MembershipRole};
use crate::audit;
use crate::auth::Membership;
use crate::clock::{new_id, now_ms};
use crate::error::AppError;
use crate::state::AppState;
use crate::users::{service::validate_email, store::normalize_email};

const VALID_FOR_MS: i64 = 14 * 24 * 60 * 60 * 1000;

/// Records an invitation. The answer depends on nothing but the input: whether anyone has
/// the email is never looked up here.
pub async fn invite(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
    input: NewInvitation,
) -> Result<InvitationView, AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::Manage).await?;
    validate_email(&input.email)?;
    let id = new_id();
    let email = normalize_email(&input.email);
    let invite = store::Invite {
        id: &id,
        account_id: scope.account_id(),
        email: &email,
        role: input.role,
        invited_by: &scope.actor().user_id,
        expires_at: now_ms() + VALID_FOR_MS,
    };
    let invitation = store::upsert(&state.db, &invite).await?;
    let after = serde_json::json!({ "email": email, "role": input.role, "expires_at": invitation.expires_at });
    let entry = audit::Entry::new("invitation.create", "invitation", &id).account(scope.account_id()).after(&after);
    audit::record(state, scope.actor(), entry).await?;
    Ok(invitation)
}

pub async fn of_account(state: &AppState, caller: &Caller, account_id: &str) -> Result<Vec<InvitationView>, AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::Manage).await?;
    store::of_account(&state.db, scope.account_id()).await
}

pub async fn revoke(state: &AppState, caller: &Caller, account_id: &str, id: &str) -> Result<(), AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::Manage).await?;
    let (email, role) = store::delete_of_account(&state.db, scope.account_id(), id).await?;
    let before = serde_json::json!({ "email": email, "role": role });
    let entry = audit::Entry::new("invitation.revoke", "invitation", id).account(scope.account_id()).before(&before);
    audit::record(state, scope.actor(), entry).await
}

/// The caller's pending invitations (to their email).
pub async fn mine(state: &AppState, caller: &Caller) -> Result<Vec<InvitationView>, AppError> {
    store::to_email(&state.db, &caller.user.email).await
}

/// Joins the account with the invitation's role (a member already gets that role).
pub async fn accept(state: &AppState, caller: &Caller, id: &str) -> Result<Membership, AppError> {
    let invitation = pending_to_caller(state, caller, id).await?;
    if invitation.role != MembershipRole::Owner {
        ensure_another_owner_remains(state, &invitation.account_id, &caller.user.id).await?;
    }
    store::take_pending(&state.db, id, &caller.user.email).await?;
    accounts_store::upsert_member(&state.db, &invitation.account_id, &caller.user.id, invitation.role).await?;
    let membership = Membership {
        account_id: invitation.account_id.clone(),
        account_name: invitation.account_name,
        role: invitation.role,
    };
    let entry =
        audit::Entry::new("invitation.accept", "invitation", id).account(&invitation.account_id).after(&membership);
    audit::record(state, &caller.actor(), entry).await?;
    Ok(membership)
}

pub async fn decline(state: &AppState, caller: &Caller, id: &str) -> Result<(), AppError> {
    let invitation = pending_to_caller(state, caller, id).await?;
    store::take_pending(&state.db, id, &caller.user.email).await?;
    let entry = audit::Entry::new("invitation.decline", "invitation", id).account(&invitation.account_id);
    audit::record(state, &caller.actor(), entry).await
}

/// Someone else's invitation is as unknown as one that does not exist.
async fn pending_to_caller(state: &AppState, caller: &Caller, id: &str) -> Result<InvitationView, AppError> {
    store::pending_to(&state.db, id, &caller.user.email).await?.ok_or_else(|| AppError::not_found("invitation"))
}
