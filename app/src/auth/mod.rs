//! Signing in and out of the console, and who is signed in.

mod page;
#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod throttle;

pub use page::SignInPage;

use crate::accounts::MembershipRole;
#[cfg(feature = "ssr")]
use crate::error::AppError;
use crate::error::ConsoleError;
use crate::users::UserView;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One account the signed-in user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Membership {
    pub account_id: String,
    pub account_name: String,
    pub role: MembershipRole,
}

/// The signed-in user as the console sees them (`GET /api/v1/me`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Viewer {
    pub user: UserView,
    pub accounts: Vec<Membership>,
    /// The account the console is showing, chosen with the account switcher.
    pub current_account: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

#[server(prefix = "/rpc", endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), ConsoleError> {
    use crate::state::{request_parts, session, AppState};
    let state = use_context::<AppState>().ok_or_else(AppError::internal)?;
    let session = session()?;
    let ip = crate::access::peer_ip(&request_parts()?);
    let credentials = Credentials { email, password };
    match service::sign_in(&state, &session, &credentials, ip).await {
        Ok(_) => {
            leptos_axum::redirect("/");
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

#[server(prefix = "/rpc", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), ConsoleError> {
    session::sign_out(&crate::state::session()?).await?;
    leptos_axum::redirect("/sign-in");
    Ok(())
}

/// The signed-in user, or `None` when nobody is signed in.
#[server(prefix = "/rpc", endpoint = "current_viewer")]
pub async fn current_viewer() -> Result<Option<Viewer>, ConsoleError> {
    let call = match crate::state::ServerCall::begin().await {
        Ok(call) => call,
        Err(AppError::Unauthenticated | AppError::UserSuspended) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let session = crate::state::session()?;
    call.finish(service::viewer(&call.state, &call.caller, Some(&session)).await.map(Some))
}

/// Remembers which account the console shows.
#[server(prefix = "/rpc", endpoint = "switch_account")]
pub async fn switch_account(account_id: String) -> Result<(), ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let session = crate::state::session()?;
    call.finish(service::switch_account(&call.state, &call.caller, &session, &account_id).await)
}
