//! Per-key requests-per-minute, tokens-per-minute and concurrency limits.
//!
//! The counters live in this process (governor's GCRA and a semaphore per key). With
//! several instances behind a load balancer each enforces the key's limits on its own
//! share of the traffic; shared limits across instances are a later step.

use super::catalog::GatewayKey;
use super::error::GatewayError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type Signature = (Option<i64>, Option<i64>, Option<i64>);

struct KeyLimits {
    signature: Signature,
    rpm: Option<DefaultDirectRateLimiter>,
    tpm: Option<DefaultDirectRateLimiter>,
    slots: Option<Arc<Semaphore>>,
}

fn per_minute(limit: Option<i64>) -> Option<DefaultDirectRateLimiter> {
    let limit = NonZeroU32::new(u32::try_from(limit?).ok()?)?;
    Some(RateLimiter::direct(Quota::per_minute(limit)))
}

impl KeyLimits {
    fn new(signature: Signature) -> Self {
        let (rpm, tpm, concurrency) = signature;
        KeyLimits {
            signature,
            rpm: per_minute(rpm),
            tpm: per_minute(tpm),
            slots: concurrency.and_then(|n| usize::try_from(n).ok()).map(|n| Arc::new(Semaphore::new(n))),
        }
    }
}

#[derive(Default)]
pub struct Limits {
    keys: Mutex<HashMap<String, Arc<KeyLimits>>>,
}

/// Holds one of the key's concurrency slots until dropped (the response is finished).
pub type Slot = Option<OwnedSemaphorePermit>;

impl Limits {
    fn of(&self, key: &GatewayKey) -> Arc<KeyLimits> {
        let signature = (key.policy.rpm, key.policy.tpm, key.policy.max_concurrency);
        let mut keys = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = keys.entry(key.id.clone()).or_insert_with(|| Arc::new(KeyLimits::new(signature)));
        if entry.signature != signature {
            *entry = Arc::new(KeyLimits::new(signature));
        }
        entry.clone()
    }

    /// Admits one request of about `tokens` tokens, or says when to retry.
    pub fn admit(&self, key: &GatewayKey, tokens: u64) -> Result<Slot, GatewayError> {
        let limits = self.of(key);
        let limited = |limit: &'static str, retry_after: u64| GatewayError::RateLimited {
            prefix: key.prefix.clone(),
            limit,
            retry_after: retry_after.max(1),
        };
        if let Some(rpm) = &limits.rpm {
            rpm.check().map_err(|wait| limited("requests-per-minute", seconds_until(wait)))?;
        }
        if let Some(tpm) = &limits.tpm {
            let tokens = NonZeroU32::new(u32::try_from(tokens).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
            match tpm.check_n(tokens) {
                Ok(Ok(())) => {}
                Ok(Err(wait)) => return Err(limited("tokens-per-minute", seconds_until(wait))),
                // More tokens than a whole minute allows: this request can never fit.
                Err(_) => return Err(limited("tokens-per-minute", 60)),
            }
        }
        match &limits.slots {
            None => Ok(None),
            Some(slots) => slots
                .clone()
                .try_acquire_owned()
                .map(Some)
                .map_err(|_| GatewayError::ConcurrencyLimited { prefix: key.prefix.clone(), retry_after: 1 }),
        }
    }
}

fn seconds_until(wait: governor::NotUntil<governor::clock::QuantaInstant>) -> u64 {
    wait.wait_time_from(DefaultClock::default().now()).as_secs_f64().ceil() as u64
}
