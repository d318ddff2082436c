//! Wrong passwords are limited per email and client IP together (tightly), per email
//! (loosely, so guesses from many addresses still stop) and per client IP.
//!
//! Only failures count: an attempt holds one unit of each budget while the password is
//! checked, and a right password gives them back (and clears its email and IP's
//! failures). Holding before checking bounds concurrent guesses too. An attacker
//! guessing from other addresses spends the loose per-email budget, not the real user's
//! per-pair one, so cannot lock them out quickly.
//!
//! The counters live in this process; several instances behind a load balancer each
//! allow the quota, which still bounds guessing to a small multiple.

use crate::error::AppError;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::StateStore;
use governor::{Quota, RateLimiter};
use std::convert::Infallible;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;

/// Wrong passwords allowed a minute (each also allowed as a burst).
#[derive(Debug, Clone, Copy)]
pub struct SignInLimits {
    pub per_email_and_ip: NonZeroU32,
    pub per_email: NonZeroU32,
    pub per_ip: NonZeroU32,
}

/// Keys not seen for a whole window are dropped once the table holds this many.
const TIDY_ABOVE: usize = 10_000;

/// One keyed budget: a governor limiter whose state this module can also reach, to
/// give a held unit back or to forget a key.
struct Budget<K: Hash + Eq + Clone> {
    limiter: RateLimiter<K, Shared<K>, DefaultClock, NoOpMiddleware<<DefaultClock as Clock>::Instant>>,
    state: Arc<DashMapStateStore<K>>,
    /// How much one unit moves a key's theoretical arrival time.
    unit: Nanos,
}

/// The limiter's state store, shared with [`Budget`].
struct Shared<K: Hash + Eq + Clone>(Arc<DashMapStateStore<K>>);

impl<K: Hash + Eq + Clone> StateStore for Shared<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for Shared<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        self.0.retain_recent(drop_below);
    }

    fn len(&self) -> usize {
        ShrinkableKeyedStateStore::len(&*self.0)
    }

    fn is_empty(&self) -> bool {
        ShrinkableKeyedStateStore::is_empty(&*self.0)
    }
}

impl<K: Hash + Eq + Clone> Budget<K> {
    fn per_minute(limit: NonZeroU32) -> Self {
        let quota = Quota::per_minute(limit);
        let state = Arc::new(DashMapStateStore::default());
        let limiter = RateLimiter::new(quota, Shared(state.clone()), DefaultClock::default());
        Budget { limiter, state, unit: Nanos::from(quota.replenish_interval()) }
    }

    /// Holds one unit for `key`, or says how many seconds until one is free.
    fn hold(&self, key: &K) -> Result<(), u64> {
        if self.state.len() > TIDY_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs().max(1)
        })
    }

    fn give_back(&self, key: &K) {
        let unit = self.unit;
        let _ = self
            .state
            .measure_and_replace(key, |tat| Ok::<_, Infallible>(((), tat.unwrap_or_default().saturating_sub(unit))));
    }

    fn forget(&self, key: &K) {
        self.state.remove(key);
    }
}

pub struct SignInThrottle {
    pair: Budget<(String, String)>,
    email: Budget<String>,
    ip: Budget<String>,
}

/// One password check in progress: it counts as a failure unless [`Attempt::succeeded`]
/// is called.
#[must_use = "an attempt counts as a failure unless it succeeded"]
pub struct Attempt<'a> {
    throttle: &'a SignInThrottle,
    pair: (String, String),
}

impl SignInThrottle {
    pub fn new(limits: SignInLimits) -> Self {
        SignInThrottle {
            pair: Budget::per_minute(limits.per_email_and_ip),
            email: Budget::per_minute(limits.per_email),
            ip: Budget::per_minute(limits.per_ip),
        }
    }

    /// Starts a password check for `email` from `ip`; refused while any budget is spent.
    pub fn begin(&self, email: &str, ip: Option<&str>) -> Result<Attempt<'_>, AppError> {
        let pair = (email.to_owned(), ip.unwrap_or_default().to_owned());
        let refuse = |retry_after_secs| AppError::TooManyAttempts { retry_after_secs };
        self.pair.hold(&pair).map_err(refuse)?;
        if let Err(wait) = self.email.hold(&pair.0) {
            self.pair.give_back(&pair);
            return Err(refuse(wait));
        }
        if let Err(wait) = self.ip.hold(&pair.1) {
            self.pair.give_back(&pair);
            self.email.give_back(&pair.0);
            return Err(refuse(wait));
        }
        Ok(Attempt { throttle: self, pair })
    }
}

impl Attempt<'_> {
    /// The password was right: nothing of this attempt counts, and the earlier failures
    /// of this email from this IP are forgotten.
    pub fn succeeded(self) {
        let throttle = self.throttle;
        throttle.pair.forget(&self.pair);
        throttle.email.give_back(&self.pair.0);
        throttle.ip.give_back(&self.pair.1);
    }
}
