//! Signing in and out of the console, and who is signed in.

mod page;
#[cfg(feature = "ssr")]
pub mod password;
mod password_page;
#[cfg(feature = "ssr")]
pub mod reset;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod throttle;

pub use page::SignInPage;
pub use password_page::{ProfilePage, ResetPasswordPage};

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

/// A password change by the signed-in user (`PUT /api/v1/me/password`).
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 12 characters.
    pub new_password: String,
}

/// A one-time password reset link, as issued: shown this once, only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IssuedResetLink {
    pub user_id: String,
    pub email: String,
    /// The link's secret (`tgr-…`), for `POST /api/v1/password-reset`.
    pub token: String,
    /// The console page that sets the new password: `/reset-password?token=…`.
    pub path: String,
    /// `path` on the address this request was sent to, to hand to the user.
    pub link: String,
    /// UTC unix milliseconds; the link works once, until then.
    pub expires_at: i64,
}

/// A new password set through a reset link (`POST /api/v1/password-reset`).
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    pub token: String,
    /// At least 12 characters.
    pub new_password: String,
}

/// Where the signed-in user changes their password (and answers invitations).
pub const PROFILE_PAGE: &str = "/profile";

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

/// Changes the signed-in user's password; their other sessions end, this one stays.
#[server(prefix = "/rpc", endpoint = "change_password")]
pub async fn change_password(current_password: String, new_password: String) -> Result<(), ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let session = crate::state::session()?;
    let change = PasswordChange { current_password, new_password };
    let result = service::change_password(&call.state, &call.caller, Some(&session), &change).await;
    if result.is_ok() {
        // A query the page reads, so the sentence shows after a plain form post too.
        leptos_axum::redirect(&format!("{PROFILE_PAGE}?password=changed"));
    }
    call.finish(result)
}

/// Sets a new password through a one-time reset link; no sign-in needed.
#[server(prefix = "/rpc", endpoint = "reset_password")]
pub async fn reset_password(token: String, new_password: String) -> Result<(), ConsoleError> {
    use crate::state::{request_parts, AppState};
    let state = use_context::<AppState>().ok_or_else(AppError::internal)?;
    let ip = crate::access::peer_ip(&request_parts()?);
    reset::redeem(&state, &PasswordReset { token, new_password }, ip).await?;
    leptos_axum::redirect("/sign-in?password=reset");
    Ok(())
}

/// The session entry carrying a reset link made by a plain form post to the page shown next.
#[cfg(feature = "ssr")]
const NEW_RESET_LINK_FLASH: &str = "tollgate.new_reset_link";

/// Issues a one-time reset link for a user (admin); the link is shown once.
#[server(prefix = "/rpc", endpoint = "create_reset_link")]
pub async fn create_reset_link(user_id: String) -> Result<IssuedResetLink, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let result = async {
        let mut issued = reset::issue(&call.state, &call.caller, &user_id).await?;
        issued.link = reset::link_on_request_origin(&crate::state::request_parts()?, &issued.path);
        if crate::state::is_form_post() {
            crate::state::put_flash(NEW_RESET_LINK_FLASH, &issued).await?;
        }
        Ok(issued)
    };
    call.finish(result.await)
}

/// The reset link just made by a plain form post, for the page render it redirected to only.
#[server(prefix = "/rpc", endpoint = "take_new_reset_link")]
pub async fn take_new_reset_link() -> Result<Option<IssuedResetLink>, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let issued = crate::state::take_flash::<IssuedResetLink>(NEW_RESET_LINK_FLASH).await;
    call.finish(issued)
}
