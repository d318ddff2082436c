//! The first page after sign-in: for the viewer's current account, the balance and what
//! it spent, the last 24 hours of requests by the layer that refused them, and the keys
//! about to expire. The management API serves the same figures.

mod page;
#[cfg(feature = "ssr")]
pub mod service;

pub use page::DashboardPage;

use crate::accounts::MembershipRole;
use crate::billing::{BalanceView, UsageSpend};
use crate::error::{ConsoleError, Layer};
use crate::users::Status;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The layers a refused request is counted under, in the chart's stacking order.
pub const LAYERS: [Layer; 8] = [
    Layer::Identity,
    Layer::Permission,
    Layer::Quota,
    Layer::RateLimit,
    Layer::Routing,
    Layer::Upstream,
    Layer::Request,
    Layer::Internal,
];

/// Hours the traffic chart covers: the current one and the 23 before it.
pub const HOURS: usize = 24;

/// Keys expiring within this many days are listed.
pub const EXPIRY_WARNING_DAYS: i64 = 7;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Dashboard {
    pub account_id: String,
    pub account_name: String,
    pub account_status: Status,
    /// The viewer's role in the account; `None` for admins and support looking from outside.
    pub role: Option<MembershipRole>,
    /// The server's clock (UTC unix ms) the figures were taken at.
    pub now: i64,
    /// Balance and spend: for owners, admins and support; `None` for members.
    pub money: Option<Money>,
    pub traffic: Traffic,
    /// Keys (not revoked) whose expiry is within [`EXPIRY_WARNING_DAYS`], soonest first;
    /// owners and staff see all of the account's, members their own.
    pub expiring_keys: Vec<ExpiringKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Money {
    pub balance: BalanceView,
    pub spend: UsageSpend,
}

/// Requests per UTC hour, answered or refused by each layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Traffic {
    /// UTC unix ms: the start of the first hour (inclusive) and the end of the last (exclusive).
    pub from: i64,
    pub to: i64,
    /// [`HOURS`] buckets, oldest first.
    pub hours: Vec<HourTraffic>,
    /// The sums over all hours.
    pub total: HourTraffic,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HourTraffic {
    /// UTC unix ms.
    pub start: i64,
    /// Requests answered without an error.
    pub ok: i64,
    /// Refused requests by the layer that refused them (every layer of [`LAYERS`], zeros too).
    pub errors: BTreeMap<String, i64>,
}

impl HourTraffic {
    pub fn empty(start: i64) -> Self {
        HourTraffic { start, ok: 0, errors: LAYERS.iter().map(|layer| (layer.as_str().to_owned(), 0)).collect() }
    }

    pub fn errors_total(&self) -> i64 {
        self.errors.values().sum()
    }

    pub fn requests(&self) -> i64 {
        self.ok + self.errors_total()
    }

    pub fn errors_of(&self, layer: Layer) -> i64 {
        self.errors.get(layer.as_str()).copied().unwrap_or(0)
    }

    /// Adds `requests` that ended with `error_layer` (`None`: answered).
    pub fn add(&mut self, error_layer: Option<&str>, requests: i64) {
        match error_layer {
            None => self.ok += requests,
            Some(layer) => *self.errors.entry(layer.to_owned()).or_default() += requests,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ExpiringKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    /// UTC unix ms.
    pub expires_at: i64,
}

/// The dashboard of one account (any member; admins and support: any account).
#[server(prefix = "/rpc", endpoint = "get_dashboard")]
pub async fn get_dashboard(account_id: String) -> Result<Dashboard, ConsoleError> {
    let call = crate::state::ServerCall::begin().await?;
    call.finish(service::dashboard(&call.state, &call.caller, &account_id).await)
}
