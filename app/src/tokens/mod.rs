//! Management tokens: bearer credentials for automation against `/api/v1`, created by
//! admins. A token acts as the admin who created it, with that user's current role.

mod page;
#[cfg(feature = "ssr")]
pub mod service;

pub use page::TokensPage;

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A token as created: the secret is in `token` and is never shown again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    #[serde(flatten)]
    pub view: TokenView,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
}

#[server(prefix = "/rpc", endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<Vec<TokenView>, AppError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::list(&call.state, &call.caller).await)
}

#[server(prefix = "/rpc", endpoint = "create_token")]
pub async fn create_token(name: String) -> Result<IssuedToken, AppError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::create(&call.state, &call.caller, NewToken { name }).await)
}

#[server(prefix = "/rpc", endpoint = "revoke_token")]
pub async fn revoke_token(id: String) -> Result<(), AppError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::revoke(&call.state, &call.caller, &id).await)
}
