//! Sign-in attempts are limited per email and per client IP.
//!
//! The counters live in this process; several instances behind a load balancer each
//! allow the quota, which still bounds guessing to a small multiple.

use crate::error::AppError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

pub struct SignInThrottle {
    per_email: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<String>,
}

impl SignInThrottle {
    /// `per_email` and `per_ip` attempts a minute, each allowed as a burst.
    pub fn new(per_email: NonZeroU32, per_ip: NonZeroU32) -> Self {
        SignInThrottle {
            per_email: RateLimiter::keyed(Quota::per_minute(per_email)),
            per_ip: RateLimiter::keyed(Quota::per_minute(per_ip)),
        }
    }

    /// Counts one attempt; refuses it when either budget is spent.
    pub fn check(&self, email: &str, ip: Option<&str>) -> Result<(), AppError> {
        let refuse = |not_until: governor::NotUntil<_>| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            AppError::TooManyAttempts { retry_after_secs: wait.as_secs().max(1) }
        };
        if let Some(ip) = ip {
            self.per_ip.check_key(&ip.to_owned()).map_err(refuse)?;
        }
        self.per_email.check_key(&email.to_owned()).map_err(refuse)?;
        Ok(())
    }
}
