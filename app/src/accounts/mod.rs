//! Accounts (tenants) and their members.

pub mod invitations;
mod page;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

pub use page::{AccountPage, AccountsPage};

use crate::error::ConsoleError;
use crate::users::{text_enum, Status};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MembershipRole {
    Owner,
    Member,
}

text_enum!(MembershipRole { Owner => "owner", Member => "member" });

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AccountView {
    pub id: String,
    pub name: String,
    pub status: Status,
    /// Micro-units; absent for callers who may not see the account's money (members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<i64>,
    /// Micro-units; absent with the balance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_balance_threshold: Option<i64>,
    pub created_at: i64,
}

impl AccountView {
    /// The account as shown to a caller who may not see its money.
    pub fn without_money(self) -> AccountView {
        AccountView { balance: None, low_balance_threshold: None, ..self }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: MembershipRole,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    pub status: Option<Status>,
    pub low_balance_threshold: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub user_id: String,
    pub role: MembershipRole,
}

#[server(prefix = "/rpc", endpoint = "list_accounts")]
pub async fn list_accounts() -> Result<Vec<AccountView>, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::list(&call.state, &call.caller).await)
}

#[server(prefix = "/rpc", endpoint = "get_account")]
pub async fn get_account(id: String) -> Result<(AccountView, Vec<MemberView>), ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let result = async {
        let account = service::get(&call.state, &call.caller, &id).await?;
        let members = service::members(&call.state, &call.caller, &id).await?;
        Ok((account, members))
    };
    call.finish(result.await)
}

#[server(prefix = "/rpc", endpoint = "create_account")]
pub async fn create_account(name: String) -> Result<AccountView, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let input = crate::access::Deferred::ready(NewAccount { name });
    call.finish(service::create(&call.state, &call.caller, input).await)
}

#[server(prefix = "/rpc", endpoint = "change_account")]
pub async fn change_account(
    id: String,
    status: Option<Status>,
    low_balance_threshold: Option<i64>,
) -> Result<AccountView, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let change = crate::access::Deferred::ready(AccountChange { status, low_balance_threshold });
    call.finish(service::change(&call.state, &call.caller, &id, change).await)
}

/// Adds a user, found by email, to an account at once (admins; owners invite instead).
#[server(prefix = "/rpc", endpoint = "add_member")]
pub async fn add_member(account_id: String, email: String, role: MembershipRole) -> Result<MemberView, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::add_member_by_email(&call.state, &call.caller, &account_id, &email, role).await)
}

#[server(prefix = "/rpc", endpoint = "remove_member")]
pub async fn remove_member(account_id: String, user_id: String) -> Result<(), ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::remove_member(&call.state, &call.caller, &account_id, &user_id).await)
}
