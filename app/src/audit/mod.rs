//! The audit log: every change made through the console or the management API, with
//! who made it, from where, and the value before and after. Admins read it.

mod page;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

pub use page::AuditLogPage;
#[cfg(feature = "ssr")]
pub use store::{record, record_in, record_many_in, Entry};

use crate::error::ConsoleError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One recorded change, with the names a person needs beside the ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: String,
    /// UTC unix milliseconds.
    pub created_at: i64,
    /// The user who made the change (a management token acts as its creator).
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    /// What was done, e.g. `user.create`, `key.revoke`, `billing.grant`.
    pub action: String,
    /// The kind of thing changed (`user`, `key`, `account`…) and its id.
    pub target_type: String,
    pub target_id: String,
    /// The account the change belongs to, when it belongs to one.
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    /// The target before and after the change, as the API showed it then.
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// The address the change came from.
    pub ip: Option<String>,
}

/// One page of the audit log, newest first; pass `next_cursor` back as `cursor` for the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// Filters of the audit log; every one optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct AuditFilter {
    /// Only this action, e.g. `user.create`.
    pub action: Option<String>,
    /// Only changes by this user: a user id (an email works too).
    pub actor: Option<String>,
    /// Only changes to this account (its id).
    pub account: Option<String>,
    /// UTC unix milliseconds, inclusive.
    pub from: Option<i64>,
    /// UTC unix milliseconds, exclusive.
    pub to: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Entries per page, 1 to 200 (default 50).
    pub limit: Option<i64>,
}

/// One page of the audit log for the console: empty fields mean "any"; `from` (inclusive)
/// and `to` (exclusive) are UTC times as a `datetime-local` input sends them.
#[server(prefix = "/rpc", endpoint = "list_audit")]
pub async fn list_audit(
    action: Option<String>,
    actor: Option<String>,
    account: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
) -> Result<AuditPage, ConsoleError> {
    use crate::timefmt::parse_form_time;
    let call = crate::state::ServerCall::begin().await?;
    let result = async {
        let filter = AuditFilter {
            action,
            actor,
            account,
            from: parse_form_time("from", from.as_deref())?,
            to: parse_form_time("to", to.as_deref())?,
            cursor,
            limit: None,
        };
        service::list(&call.state, &call.caller, filter).await
    };
    call.finish(result.await)
}
