//! How fast and how much: per-minute *budgets* (a key's requests and tokens a minute, the
//! sign-in throttles) and *slots* (a key's requests in flight), all under one rule
//! (`gcra.rs`) whether they are counted in this process or in Redis.
//!
//! Without Redis the counts live in this process, which is right for one instance. With
//! `TOLLGATE_REDIS_URL` every instance counts in Redis, one script call per demand, so
//! the limits hold across instances. When Redis cannot be reached the configured policy
//! applies (never silently): refuse limited requests, or have each instance enforce its
//! share of every limit (the limit divided by the live instances). Either way the state
//! is logged once, shown by `/readyz` and `/metrics`, and Redis is used again as soon as
//! it answers.

mod gcra;
mod local;
mod shared;

pub use gcra::Standing;
pub use shared::SharedConfig;

use crate::instances::Instance;
use local::Local;
use serde::{Deserialize, Serialize};
use shared::Shared;
use std::sync::Arc;

/// Units taken from a per-minute limit.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Names the limit; every instance uses the same name for the same limit.
    pub name: String,
    pub per_minute: u64,
    pub units: u64,
}

/// One of `limit` slots, held by `member` until the ticket is settled or dropped.
#[derive(Debug, Clone)]
pub struct Slots {
    pub name: String,
    pub limit: u64,
    pub member: String,
}

/// Everything one request takes, admitted all or nothing.
#[derive(Debug, Clone, Default)]
pub struct Demand {
    pub budgets: Vec<Budget>,
    pub slots: Option<Slots>,
}

impl Demand {
    fn is_empty(&self) -> bool {
        self.budgets.is_empty() && self.slots.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The budget at `index` of the demand has no room for `retry_after_ms`.
    Budget { index: usize, retry_after_ms: u64 },
    /// Every slot is taken.
    Slots,
    /// Redis is down and the policy is to refuse.
    Unavailable,
}

/// What limited requests get while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WhenRedisFails {
    /// 503 `rate_limiter_unavailable`: no limit is ever exceeded.
    Refuse,
    /// Each instance enforces the limit divided by the live instances.
    #[default]
    Split,
}

/// Where the limits are counted right now, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// In this process: no Redis is configured.
    Local,
    /// In Redis, shared by every instance.
    Shared,
    /// Redis is configured and unreachable; the policy applies.
    Down(WhenRedisFails),
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Local => "local",
            Engine::Shared => "shared",
            Engine::Down(_) => "down",
        }
    }
}

impl WhenRedisFails {
    pub fn as_str(self) -> &'static str {
        match self {
            WhenRedisFails::Refuse => "refuse",
            WhenRedisFails::Split => "split",
        }
    }
}

struct Inner {
    local: Local,
    shared: Option<Shared>,
    /// Counts the instances sharing the limits, for the split policy.
    instance: Option<Arc<Instance>>,
}

#[derive(Clone)]
pub struct Limiter(Arc<Inner>);

/// Which engine admitted a ticket, so it is settled where it was taken.
#[derive(Debug, Clone, Copy)]
enum Taken {
    Local { share: u64 },
    Shared,
}

impl Taken {
    /// The limit a budget of `per_minute` was counted under: this instance's share of it
    /// when the instances count apart.
    fn limit(self, per_minute: u64) -> u64 {
        match self {
            Taken::Local { share } => (per_minute / share.max(1)).max(1),
            Taken::Shared => per_minute.max(1),
        }
    }
}

fn now() -> f64 {
    crate::clock::now_ms() as f64
}

impl Limiter {
    /// Counts in this process.
    pub fn local() -> Limiter {
        Limiter::with(None, None)
    }

    /// Counts in Redis; starts the task that keeps slots alive and watches Redis. Fails
    /// only for a URL that is not one; a Redis that does not answer yet is waited for.
    /// `instance` says how many instances are live, to split limits among while Redis is down.
    pub async fn shared(config: SharedConfig, instance: Arc<Instance>) -> Result<Limiter, redis::RedisError> {
        let limiter = Limiter::with(Some(Shared::connect(config).await?), Some(instance));
        tokio::spawn(limiter.clone().upkeep());
        Ok(limiter)
    }

    fn with(shared: Option<Shared>, instance: Option<Arc<Instance>>) -> Limiter {
        Limiter(Arc::new(Inner { local: Local::default(), shared, instance }))
    }

    /// This instance's share of a limit split among the live instances (their heartbeats say).
    fn share(&self) -> u64 {
        self.0.instance.as_ref().map_or(1, |instance| instance.live_instances().max(1) as u64)
    }

    pub fn engine(&self) -> Engine {
        match &self.0.shared {
            None => Engine::Local,
            Some(shared) if shared.is_up() => Engine::Shared,
            Some(shared) => Engine::Down(shared.when_fails()),
        }
    }

    /// Takes the demand, all or nothing. The ticket gives back what the request did not use.
    pub async fn admit(&self, demand: Demand) -> Result<Ticket, Refusal> {
        let share = match &self.0.shared {
            Some(shared) if !demand.is_empty() => match shared.admit(&demand).await {
                Some(result) => return result.map(|standings| self.ticket(demand, Taken::Shared, standings)),
                None if shared.when_fails() == WhenRedisFails::Refuse => return Err(Refusal::Unavailable),
                None => self.share(),
            },
            _ => 1,
        };
        let standings = self.0.local.admit(&demand, now(), share)?;
        Ok(self.ticket(demand, Taken::Local { share }, standings))
    }

    fn ticket(&self, demand: Demand, taken: Taken, standings: Vec<Standing>) -> Ticket {
        Ticket { limiter: self.clone(), demand, taken, standings, settled: false }
    }

    /// Forgets a budget's use, as if it had not been touched for a minute.
    pub async fn forget(&self, name: &str) {
        self.0.local.forget(name);
        if let Some(shared) = &self.0.shared {
            shared.forget(name).await;
        }
    }

    fn settle(&self, settlement: Settlement) {
        match settlement.taken {
            Taken::Local { .. } => self.0.local.settle(&settlement, now()),
            Taken::Shared => {
                if let Some(shared) = &self.0.shared {
                    shared.settle(settlement);
                }
            }
        }
    }

    async fn upkeep(self) {
        if let Some(shared) = &self.0.shared {
            shared.upkeep().await;
        }
    }
}

/// What one admitted demand took. Settle it with the units really used; dropped
/// unsettled, its slot is freed and its budgets keep what they gave.
pub struct Ticket {
    limiter: Limiter,
    demand: Demand,
    taken: Taken,
    standings: Vec<Standing>,
    settled: bool,
}

impl Ticket {
    /// Each budget's standing after the admission, in the demand's order.
    pub fn standings(&self) -> &[Standing] {
        &self.standings
    }

    /// Moves each budget to the units really used (`used[i]` for budget `i`; a missing
    /// figure counts as taken) and frees the slot.
    pub fn settle(mut self, used: &[u64]) {
        self.finish(used);
    }

    fn finish(&mut self, used: &[u64]) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        let deltas = self
            .demand
            .budgets
            .iter()
            .enumerate()
            .map(|(i, budget)| {
                let taken = budget.units.min(self.taken.limit(budget.per_minute));
                used.get(i).map_or(0, |&used| clamp(used) - clamp(taken))
            })
            .collect();
        let settlement = Settlement { demand: std::mem::take(&mut self.demand), taken: self.taken, deltas };
        self.limiter.settle(settlement);
    }
}

fn clamp(units: u64) -> i64 {
    i64::try_from(units).unwrap_or(i64::MAX)
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.finish(&[]);
    }
}

/// A ticket's budgets moved by what was used beyond or short of what was taken, and its slot.
pub(crate) struct Settlement {
    demand: Demand,
    taken: Taken,
    deltas: Vec<i64>,
}

impl Settlement {
    /// Each budget that moves: its name, the limit it was taken under, and by how much.
    fn moves(&self) -> impl Iterator<Item = (&str, u64, i64)> {
        self.demand
            .budgets
            .iter()
            .zip(&self.deltas)
            .filter(|(_, delta)| **delta != 0)
            .map(|(budget, delta)| (budget.name.as_str(), self.taken.limit(budget.per_minute), *delta))
    }

    fn slots(&self) -> Option<&Slots> {
        self.demand.slots.as_ref()
    }

    fn is_empty(&self) -> bool {
        self.slots().is_none() && self.deltas.iter().all(|delta| *delta == 0)
    }
}
