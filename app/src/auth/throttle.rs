//! Wrong passwords are limited per email and client IP together (tightly), per email
//! (loosely, so guesses from many addresses still stop) and per client IP.
//!
//! Only failures count: an attempt takes one unit of each budget while the password is
//! checked, and a right password gives them back (and clears its email and IP's
//! failures). Taking before checking bounds concurrent guesses too. An attacker
//! guessing from other addresses spends the loose per-email budget, not the real user's
//! per-pair one, so cannot lock them out quickly.
//!
//! The budgets are the limiter's (`crate::limits`): with Redis every instance counts the
//! same attempts. Emails are named by a hash, so Redis holds no address.

use crate::error::AppError;
use crate::limits::{Budget, Demand, Limiter, Refusal, Ticket};
use sha2::{Digest, Sha256};
use std::num::NonZeroU32;

/// Wrong passwords allowed a minute (each also allowed as a burst).
#[derive(Debug, Clone, Copy)]
pub struct SignInLimits {
    pub per_email_and_ip: NonZeroU32,
    pub per_email: NonZeroU32,
    pub per_ip: NonZeroU32,
}

pub struct SignInThrottle {
    limiter: Limiter,
    limits: SignInLimits,
}

/// One password check in progress: it counts as a failure unless [`Attempt::succeeded`]
/// is called.
#[must_use = "an attempt counts as a failure unless it succeeded"]
pub struct Attempt<'a> {
    throttle: &'a SignInThrottle,
    ticket: Ticket,
    pair: String,
}

fn hashed(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

impl SignInThrottle {
    pub fn new(limiter: Limiter, limits: SignInLimits) -> Self {
        SignInThrottle { limiter, limits }
    }

    /// Starts a password check for `email` from `ip`; refused while any budget is spent.
    pub async fn begin(&self, email: &str, ip: Option<&str>) -> Result<Attempt<'_>, AppError> {
        let (email, ip) = (hashed(email), ip.unwrap_or_default());
        let pair = format!("sign-in:pair:{email}:{ip}");
        let budget = |name: String, limit: NonZeroU32| Budget { name, per_minute: u64::from(limit.get()), units: 1 };
        let demand = Demand {
            budgets: vec![
                budget(pair.clone(), self.limits.per_email_and_ip),
                budget(format!("sign-in:email:{email}"), self.limits.per_email),
                budget(format!("sign-in:ip:{ip}"), self.limits.per_ip),
            ],
            slots: None,
        };
        match self.limiter.admit(demand).await {
            Ok(ticket) => Ok(Attempt { throttle: self, ticket, pair }),
            Err(Refusal::Budget { retry_after_ms, .. }) => {
                Err(AppError::TooManyAttempts { retry_after_secs: retry_after_ms.div_ceil(1_000).max(1) })
            }
            Err(Refusal::Slots | Refusal::Unavailable) => Err(AppError::LimiterUnavailable),
        }
    }
}

impl Attempt<'_> {
    /// The password was right: nothing of this attempt counts, and the earlier failures
    /// of this email from this IP are forgotten.
    pub async fn succeeded(self) {
        self.ticket.settle(&[0, 0, 0]);
        self.throttle.limiter.forget(&self.pair).await;
    }
}
