//! Money: prices, reservations and charges for the gateway, and for people the balance,
//! the ledger, credit grants, redemption codes and trial credit.
//!
//! The balance only moves together with a ledger entry in the same transaction, so it
//! always equals the sum of the account's ledger.

mod page;
pub mod pricing;

#[cfg(feature = "ssr")]
mod codes;
#[cfg(feature = "ssr")]
mod ledger;
#[cfg(feature = "ssr")]
pub mod reservations;
#[cfg(feature = "ssr")]
pub mod service;

pub use page::BalancePage;

#[cfg(feature = "ssr")]
use crate::error::AppError;
use crate::error::ConsoleError;
use crate::users::text_enum;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Why the balance moved: `+` grant, redemption, trial, refund; `-` usage; either way adjustment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    Grant,
    Redemption,
    Usage,
    Refund,
    Adjustment,
    Trial,
}

text_enum!(LedgerKind {
    Grant => "grant",
    Redemption => "redemption",
    Usage => "usage",
    Refund => "refund",
    Adjustment => "adjustment",
    Trial => "trial",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BalanceView {
    pub account_id: String,
    pub balance: i64,
    /// Held by open reservations of requests in flight.
    pub reserved: i64,
    /// `balance - reserved`: what new requests can spend.
    pub available: i64,
    pub low_balance_threshold: i64,
    /// `available` is below `low_balance_threshold`.
    pub low_balance: bool,
}

/// What an account's requests were charged (micro-units, from the ledger's usage entries)
/// since the start of the current UTC day and of the current UTC month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UsageSpend {
    pub today: i64,
    pub this_month: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LedgerEntry {
    pub id: String,
    pub account_id: String,
    pub amount: i64,
    pub kind: LedgerKind,
    pub request_id: Option<String>,
    /// The hint of the redeemed code (`TG-…-WXYZ`), never the code.
    pub redemption_code: Option<String>,
    pub note: String,
    pub created_by: Option<String>,
    pub created_at: i64,
}

/// One page of the ledger, newest first; pass `next_cursor` back as `cursor` for the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LedgerPage {
    pub entries: Vec<LedgerEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCredit {
    pub amount: i64,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCodes {
    pub amount: i64,
    pub count: u32,
    pub expires_at: Option<i64>,
}

/// A batch of redemption codes as created: the codes are shown this once, never again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IssuedCodes {
    pub amount: i64,
    pub expires_at: Option<i64>,
    pub codes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Redemption {
    pub code: String,
}

/// An amount of credits typed in a form, as micro-units.
#[cfg(feature = "ssr")]
fn credits_param(param: &str, text: &str) -> Result<i64, AppError> {
    crate::money::parse_credits(text)
        .filter(|amount| *amount > 0)
        .ok_or_else(|| AppError::invalid(param, "The amount must be a positive number of credits, such as 10 or 2.5."))
}

/// The session entry that carries codes created by a plain form post to the next page.
#[cfg(feature = "ssr")]
const NEW_CODES_FLASH: &str = "tollgate.new_codes";

/// The balance and one page of the ledger (owners; admins and support read any account).
#[server(prefix = "/rpc", endpoint = "get_balance")]
pub async fn get_balance(
    account_id: String,
    cursor: Option<String>,
) -> Result<(BalanceView, LedgerPage), ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let result = async {
        let balance = service::balance(&call.state, &call.caller, &account_id).await?;
        let query = LedgerQuery { cursor: cursor.filter(|c| !c.trim().is_empty()), limit: Some(20) };
        let ledger = service::ledger(&call.state, &call.caller, &account_id, query).await?;
        Ok((balance, ledger))
    };
    call.finish(result.await)
}

/// Tops an account up with a redemption code (owners).
#[server(prefix = "/rpc", endpoint = "redeem_code")]
pub async fn redeem_code(account_id: String, code: String) -> Result<LedgerEntry, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let input = crate::access::Deferred::ready(Redemption { code });
    call.finish(service::redeem(&call.state, &call.caller, &account_id, input).await)
}

/// Grants credit with a note (admins).
#[server(prefix = "/rpc", endpoint = "grant_credit")]
pub async fn grant_credit(account_id: String, amount: String, note: String) -> Result<i64, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let input =
        crate::access::Deferred::parse(move || Ok(NewCredit { amount: credits_param("amount", &amount)?, note }));
    let result =
        service::grant(&call.state, &call.caller, &account_id, input, crate::access::Deferred::ready(None)).await;
    call.finish(result.map(|entry| entry.amount))
}

/// Creates a batch of redemption codes (admins); the codes are shown once.
#[server(prefix = "/rpc", endpoint = "create_redemption_codes")]
pub async fn create_redemption_codes(amount: String, count: String) -> Result<IssuedCodes, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let input = crate::access::Deferred::parse(move || {
        let amount = credits_param("amount", &amount)?;
        let count = count
            .trim()
            .parse::<u32>()
            .map_err(|_| AppError::invalid("count", "The number of codes must be a whole number from 1."))?;
        Ok(NewCodes { amount, count, expires_at: None })
    });
    let result = service::create_codes(&call.state, &call.caller, input).await;
    if let (Ok(issued), true) = (&result, crate::state::is_form_post()) {
        crate::state::put_flash(NEW_CODES_FLASH, issued).await?;
    }
    call.finish(result)
}

/// Codes just created by a plain form post, for the page render it redirected to only.
#[server(prefix = "/rpc", endpoint = "take_new_codes")]
pub async fn take_new_codes() -> Result<Option<IssuedCodes>, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    let issued = crate::state::take_flash::<IssuedCodes>(NEW_CODES_FLASH).await;
    call.finish(issued)
}
