//! Money: prices, reservations and charges for the gateway, and for people the balance,
//! the ledger, credit grants, redemption codes and trial credit.
//!
//! The balance only moves together with a ledger entry in the same transaction, so it
//! always equals the sum of the account's ledger.

pub mod pricing;

#[cfg(feature = "ssr")]
mod codes;
#[cfg(feature = "ssr")]
mod ledger;
#[cfg(feature = "ssr")]
pub mod reservations;
#[cfg(feature = "ssr")]
pub mod service;

use crate::users::text_enum;
use serde::{Deserialize, Serialize};

/// Why the balance moved: `+` grant, redemption, trial, refund; `-` usage; either way adjustment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct LedgerPage {
    pub entries: Vec<LedgerEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCredit {
    pub amount: i64,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCodes {
    pub amount: i64,
    pub count: u32,
    pub expires_at: Option<i64>,
}

/// A batch of redemption codes as created: the codes are shown this once, never again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCodes {
    pub amount: i64,
    pub expires_at: Option<i64>,
    pub codes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redemption {
    pub code: String,
}
