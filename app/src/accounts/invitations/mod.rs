//! Invitations: an account's owners invite people by email, and a person joins only by
//! accepting in their console. The owner's answer is the same whether or not anyone has
//! that email, so inviting tells nothing about who is registered; an invitation to an
//! unregistered email waits for a user with it, or expires.

mod page;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

pub use page::{AccountInvitations, MyInvitations};

use super::MembershipRole;
use crate::auth::Membership;
use crate::error::ConsoleError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A pending invitation, as its account's owners and the invited person see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InvitationView {
    pub id: String,
    pub account_id: String,
    pub account_name: String,
    /// The invited email, lower-cased.
    pub email: String,
    /// The role the person gets by accepting.
    pub role: MembershipRole,
    pub invited_by_email: String,
    /// UTC unix milliseconds.
    pub created_at: i64,
    /// UTC unix milliseconds; unanswered by then, the invitation lapses.
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    pub email: String,
    pub role: MembershipRole,
}

#[server(prefix = "/rpc", endpoint = "list_invitations")]
pub async fn list_invitations(account_id: String) -> Result<Vec<InvitationView>, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::of_account(&call.state, &call.caller, &account_id).await)
}

#[server(prefix = "/rpc", endpoint = "invite_member")]
pub async fn invite_member(
    account_id: String,
    email: String,
    role: MembershipRole,
) -> Result<InvitationView, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::invite(&call.state, &call.caller, &account_id, NewInvitation { email, role }).await)
}

#[server(prefix = "/rpc", endpoint = "revoke_invitation")]
pub async fn revoke_invitation(account_id: String, id: String) -> Result<(), ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::revoke(&call.state, &call.caller, &account_id, &id).await)
}

/// The signed-in user's pending invitations.
#[server(prefix = "/rpc", endpoint = "my_invitations")]
pub async fn my_invitations() -> Result<Vec<InvitationView>, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::mine(&call.state, &call.caller).await)
}

#[server(prefix = "/rpc", endpoint = "accept_invitation")]
pub async fn accept_invitation(id: String) -> Result<Membership, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::accept(&call.state, &call.caller, &id).await)
}

#[server(prefix = "/rpc", endpoint = "decline_invitation")]
pub async fn decline_invitation(id: String) -> Result<(), ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::decline(&call.state, &call.caller, &id).await)
}
