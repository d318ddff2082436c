//! Management tokens: bearer credentials for automation against `/api/v1`, created by
//! admins. A token acts as the admin who created it, with that user's current role.

mod page;
#[cfg(feature = "ssr")]
pub mod service;

pub use page::TokensPage;

#[cfg(feature = "ssr")]
use crate::error::AppError;
use crate::error::ConsoleError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenView {
    pub id: String,
    pub name: String,
    /// The public part of the token (`tgm-…`), shown everywhere.
    pub prefix: String,
    /// The admin who created it; the token acts as this user.
    pub created_by: String,
    pub created_by_email: String,
    /// UTC unix milliseconds.
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Set once revoked; a revoked token never works again.
    pub revoked_at: Option<i64>,
}

/// A token as created: the secret is in `token` and is never shown again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IssuedToken {
    #[serde(flatten)]
    pub view: TokenView,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewToken {
    pub name: String,
}

#[server(prefix = "/rpc", endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<Vec<TokenView>, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::list(&call.state, &call.caller).await)
}

/// The session entry that carries a token created by a plain form post (no JavaScript)
/// to the page the browser is redirected to, where it is shown once.
#[cfg(feature = "ssr")]
const NEW_TOKEN_FLASH: &str = "tollgate.new_token";

#[server(prefix = "/rpc", endpoint = "create_token")]
pub async fn create_token(name: String) -> Result<IssuedToken, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let input = crate::access::Deferred::ready(NewToken { name });
    let result = service::create(&call.state, &call.caller, input).await;
    if let (Ok(issued), true) = (&result, crate::state::is_form_post()) {
        crate::state::put_flash(NEW_TOKEN_FLASH, issued).await?;
    }
    call.finish(result)
}

/// The token just created by a plain form post, for the page render it redirected to only.
#[server(prefix = "/rpc", endpoint = "take_new_token")]
pub async fn take_new_token() -> Result<Option<IssuedToken>, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let issued = crate::state::take_flash::<IssuedToken>(NEW_TOKEN_FLASH).await;
    call.finish(issued)
}

/// Revokes a token for good; `confirm` must be ticked.
#[server(prefix = "/rpc", endpoint = "revoke_token")]
pub async fn revoke_token(id: String, confirm: Option<String>) -> Result<(), ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    if confirm.as_deref().is_none_or(str::is_empty) {
        return call.finish(Err(AppError::invalid(
            "confirm",
            "Tick the box to confirm: revoking is final and the token can never be used again.",
        )));
    }
    call.finish(service::revoke(&call.state, &call.caller, &id).await)
}
