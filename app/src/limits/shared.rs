//! The limits every instance shares, counted in Redis: one script call admits a whole
//! demand (`admit.lua`), one settles it (`settle.lua`), and each instance keeps its
//! slots alive (`refresh.lua`) so a killed instance's slots lapse after the expiry.

use super::gcra::Standing;
use super::{Demand, Refusal, Settlement, WhenRedisFails};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A call slower than this counts as Redis failing: the request path must not wait on it.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How often a Redis that failed is tried again.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// Slots refreshed per script call.
const REFRESH_BATCH: usize = 500;

#[derive(Debug, Clone)]
pub struct SharedConfig {
    pub url: String,
    /// Put before every key, so deployments (and tests) can share one Redis.
    pub prefix: String,
    pub when_fails: WhenRedisFails,
    /// A slot not refreshed for this long is free again (its instance died).
    pub slot_expiry: Duration,
}

impl SharedConfig {
    /// The URL without its password, for the log.
    fn shown_url(&self) -> &str {
        self.url.rsplit_once('@').map_or(self.url.as_str(), |(_, host)| host)
    }
}

pub struct Shared {
    config: SharedConfig,
    client: redis::Client,
    connection: Mutex<Option<ConnectionManager>>,
    up: AtomicBool,
    /// Budgets Redis refused, until when: refused here with no round trip.
    denied: Mutex<HashMap<String, Instant>>,
    /// This instance's slots in Redis (sorted-set key, member), refreshed until settled.
    held: Mutex<HashSet<(String, String)>>,
}

// Statics, so an invocation can outlive the call that built it (settling runs in a task).
static ADMIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("admit.lua")));
static SETTLE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("settle.lua")));
static REFRESH: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("refresh.lua")));

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// Connects once; a Redis that does not answer yet is tried again by `upkeep`.
    pub async fn connect(config: SharedConfig) -> Result<Shared, redis::RedisError> {
        let client = redis::Client::open(config.url.as_str())?;
        let shared = Shared {
            config,
            client,
            connection: Mutex::new(None),
            up: AtomicBool::new(false),
            denied: Mutex::default(),
            held: Mutex::default(),
        };
        shared.probe().await;
        if !shared.is_up() {
            shared.report_down("it did not answer at start-up");
        }
        Ok(shared)
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub fn when_fails(&self) -> WhenRedisFails {
        self.config.when_fails
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.config.prefix)
    }

    fn connection(&self) -> Option<ConnectionManager> {
        locked(&self.connection).clone()
    }

    /// The demand's verdict from Redis, or `None` when Redis cannot give one.
    pub async fn admit(&self, demand: &Demand) -> Option<Result<Vec<Standing>, Refusal>> {
        // Known to be over a limit: refused here, whether Redis is up or not.
        if let Some(refusal) = self.denied_here(demand) {
            return Some(Err(refusal));
        }
        if !self.is_up() {
            return None;
        }
        let mut connection = self.connection()?;
        let mut call = ADMIT.prepare_invoke();
        call.arg(demand.budgets.len());
        for budget in &demand.budgets {
            call.key(self.key(&budget.name)).arg(budget.per_minute.max(1)).arg(budget.units);
        }
        match &demand.slots {
            Some(slots) => {
                call.key(self.key(&slots.name));
                call.arg(slots.limit.max(1)).arg(&slots.member).arg(self.config.slot_expiry.as_millis() as u64);
            }
            None => {
                call.arg(0).arg("").arg(0);
            }
        }
        let reply: Vec<i64> = match call.invoke_async(&mut connection).await {
            Ok(reply) => reply,
            Err(err) => {
                self.went_down(&err);
                return None;
            }
        };
        Some(self.verdict(demand, &reply))
    }

    fn verdict(&self, demand: &Demand, reply: &[i64]) -> Result<Vec<Standing>, Refusal> {
        let number = |i: usize| reply.get(i).copied().unwrap_or(0).max(0) as u64;
        match reply.first() {
            Some(1) => {
                if let Some(slots) = &demand.slots {
                    locked(&self.held).insert((self.key(&slots.name), slots.member.clone()));
                }
                let standings = demand.budgets.iter().enumerate().map(|(i, budget)| Standing {
                    limit: budget.per_minute,
                    remaining: number(3 + 2 * i),
                    reset_ms: number(4 + 2 * i),
                });
                Ok(standings.collect())
            }
            Some(0) => {
                let index = (number(1) as usize).saturating_sub(1);
                let retry_after_ms = number(2);
                if let Some(budget) = demand.budgets.get(index) {
                    let until = Instant::now() + Duration::from_millis(retry_after_ms);
                    locked(&self.denied).insert(budget.name.clone(), until);
                }
                Err(Refusal::Budget { index, retry_after_ms })
            }
            _ => Err(Refusal::Slots),
        }
    }

    /// A budget Redis refused a moment ago stays refused here until its retry time.
    fn denied_here(&self, demand: &Demand) -> Option<Refusal> {
        let mut denied = locked(&self.denied);
        if denied.is_empty() {
            return None;
        }
        let now = Instant::now();
        denied.retain(|_, until| *until > now);
        demand.budgets.iter().enumerate().find_map(|(index, budget)| {
            let until = denied.get(&budget.name)?;
            Some(Refusal::Budget { index, retry_after_ms: until.duration_since(now).as_millis() as u64 + 1 })
        })
    }

    /// Settles in the background: the answer is already on its way.
    pub fn settle(&self, settlement: Settlement) {
        if settlement.is_empty() {
            return;
        }
        let slot = settlement.slots().map(|slots| (self.key(&slots.name), slots.member.clone()));
        if let Some(slot) = &slot {
            locked(&self.held).remove(slot);
        }
        let Some(mut connection) = self.connection().filter(|_| self.is_up()) else {
            // Its slot lapses at its deadline; the budgets keep what they took.
            return;
        };
        let mut call = SETTLE.prepare_invoke();
        let moves: Vec<_> = settlement.moves().collect();
        call.arg(moves.len());
        for (name, limit, delta) in moves {
            call.key(self.key(name)).arg(limit).arg(delta);
        }
        match slot {
            Some((key, member)) => call.key(key).arg(member),
            None => call.arg(""),
        };
        tokio::spawn(async move {
            if let Err(err) = call.invoke_async::<i64>(&mut connection).await {
                tracing::debug!(error = %err, "settling a ticket in Redis failed; its slot lapses at its deadline");
            }
        });
    }

    pub async fn forget(&self, name: &str) {
        let Some(mut connection) = self.connection().filter(|_| self.is_up()) else { return };
        let deleted: Result<i64, _> = redis::cmd("DEL").arg(self.key(name)).query_async(&mut connection).await;
        if let Err(err) = deleted {
            self.went_down(&err);
        }
    }

    /// Runs for the life of the process: pings Redis (so an outage shows in `/readyz`
    /// before a request meets it, and its end is noticed) and refreshes this instance's slots.
    pub async fn upkeep(&self) {
        let refresh_every = (self.config.slot_expiry / 3).max(PROBE_EVERY);
        let mut ticker = tokio::time::interval(PROBE_EVERY);
        let mut refreshed = Instant::now();
        loop {
            ticker.tick().await;
            self.probe().await;
            if self.is_up() && refreshed.elapsed() >= refresh_every {
                refreshed = Instant::now();
                self.refresh_slots().await;
            }
        }
    }

    async fn refresh_slots(&self) {
        let held: Vec<(String, String)> = locked(&self.held).iter().cloned().collect();
        let Some(mut connection) = self.connection() else { return };
        for batch in held.chunks(REFRESH_BATCH) {
            let mut call = REFRESH.prepare_invoke();
            call.arg(self.config.slot_expiry.as_millis() as u64);
            for (key, member) in batch {
                call.key(key).arg(member);
            }
            if let Err(err) = call.invoke_async::<i64>(&mut connection).await {
                self.went_down(&err);
                return;
            }
        }
    }

    /// Connects if need be and pings: Redis is up when it answers, down when it does not.
    async fn probe(&self) {
        let connection = match self.connection() {
            Some(connection) => connection,
            None => {
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(RESPONSE_TIMEOUT)
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_number_of_retries(1);
                match self.client.get_connection_manager_with_config(config).await {
                    Ok(connection) => {
                        *locked(&self.connection) = Some(connection.clone());
                        connection
                    }
                    Err(err) => return self.went_down(&err),
                }
            }
        };
        let mut connection = connection;
        match redis::cmd("PING").query_async::<String>(&mut connection).await {
            Ok(_) if !self.up.swap(true, Ordering::AcqRel) => {
                tracing::info!(redis = %self.config.shown_url(), "Redis answers: rate limits and throttles are shared across instances");
            }
            Ok(_) => {}
            Err(err) => self.went_down(&err),
        }
        // Set on every probe, not only on a change: the recorder may be installed after start-up.
        metrics::gauge!("tollgate_rate_limiter_shared").set(if self.is_up() { 1.0 } else { 0.0 });
    }

    fn went_down(&self, err: &redis::RedisError) {
        if self.up.swap(false, Ordering::AcqRel) {
            self.report_down(&err.to_string());
        }
    }

    /// Said once per outage in the log (`/metrics` follows the probe).
    fn report_down(&self, cause: &str) {
        let policy = match self.config.when_fails {
            WhenRedisFails::Refuse => "requests of keys with limits are refused with 503 until it is back",
            WhenRedisFails::Split => "each instance enforces its share of every limit until it is back",
        };
        tracing::error!(redis = %self.config.shown_url(), %cause, "Redis cannot be reached: {policy}");
    }
}
