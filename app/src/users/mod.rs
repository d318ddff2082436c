//! Users of the console: platform role and status; admins manage them.

mod page;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

pub use page::UsersPage;

use crate::error::ConsoleError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlatformRole {
    Admin,
    Support,
    User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Suspended,
}

/// Implements `as_str` / `parse` for the enums stored as text in the database.
macro_rules! text_enum {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(<$ty>::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(PlatformRole { Admin => "admin", Support => "support", User => "user" });
text_enum!(Status { Active => "active", Suspended => "suspended" });

/// What the console and the API show of a user: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub role: PlatformRole,
    pub status: Status,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub password: String,
    pub role: PlatformRole,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub role: Option<PlatformRole>,
    pub status: Option<Status>,
}

#[server(prefix = "/rpc", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserView>, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::list(&call.state, &call.caller).await)
}

#[server(prefix = "/rpc", endpoint = "create_user")]
pub async fn create_user(email: String, password: String, role: PlatformRole) -> Result<UserView, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let input = crate::access::Deferred::ready(NewUser { email, password, role });
    call.finish(service::create(&call.state, &call.caller, input).await)
}

#[server(prefix = "/rpc", endpoint = "change_user")]
pub async fn change_user(
    id: String,
    role: Option<PlatformRole>,
    status: Option<Status>,
) -> Result<UserView, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let change = crate::access::Deferred::ready(UserChange { role, status });
    call.finish(service::change(&call.state, &call.caller, &id, change).await)
}
