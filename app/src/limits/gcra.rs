//! The one rule every per-minute limit follows, in this process and in Redis alike (the
//! Lua script in `admit.lua` is this arithmetic, line for line).
//!
//! A limit of N per minute is a bucket of N units that refills continuously at N a
//! minute (GCRA, the generic cell rate algorithm): a burst of N at once, then one unit
//! every 60/N seconds. The state is one number, the *theoretical arrival time* (TAT):
//! the moment the bucket would be full again. A bucket whose TAT has passed is full, so a
//! limit that has not been used for a minute needs no state at all.

/// The window a limit is counted over.
pub const PERIOD_MS: f64 = 60_000.0;

/// One per-minute limit as it stands after a check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    pub limit: u64,
    /// Units that could be taken right now.
    pub remaining: u64,
    /// Milliseconds until the bucket is full again.
    pub reset_ms: u64,
}

/// What taking `units` from a bucket would do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// Allowed: the new TAT to store, and the standing after the take.
    Fits { tat: f64, standing: Standing },
    /// Refused: how long until the units would fit.
    Wait { retry_after_ms: u64 },
}

/// Milliseconds one unit of a `limit`-per-minute bucket takes to refill.
fn interval(limit: u64) -> f64 {
    PERIOD_MS / limit.max(1) as f64
}

/// Whether `units` fit in a bucket of `limit` a minute whose TAT is `tat` (0: never used)
/// at `now` (milliseconds). More units than the whole bucket need it full: a request
/// larger than a minute's allowance waits for a full bucket instead of never fitting.
pub fn check(limit: u64, tat: f64, now: f64, units: u64) -> Check {
    let units = units.min(limit);
    let step = interval(limit);
    let start = tat.max(now);
    let new_tat = start + units as f64 * step;
    let over = new_tat - now - PERIOD_MS;
    if over > 0.0 {
        return Check::Wait { retry_after_ms: over.ceil() as u64 };
    }
    Check::Fits { tat: new_tat, standing: standing(limit, new_tat, now) }
}

/// The standing of a bucket whose TAT is `tat`.
pub fn standing(limit: u64, tat: f64, now: f64) -> Standing {
    let used = (tat - now).max(0.0);
    let remaining = ((PERIOD_MS - used) / interval(limit)).floor().max(0.0) as u64;
    Standing { limit, remaining: remaining.min(limit), reset_ms: used.ceil() as u64 }
}

/// The TAT after `delta` more units (negative: given back) than were taken. A bucket is
/// never refilled past full, so giving back does not move a TAT before `now`.
pub fn adjust(limit: u64, tat: f64, now: f64, delta: i64) -> f64 {
    let step = interval(limit);
    if delta < 0 {
        (tat + delta as f64 * step).max(now.min(tat))
    } else {
        tat.max(now) + delta as f64 * step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(limit: u64, tat: &mut f64, now: f64, units: u64) -> Result<Standing, u64> {
        match check(limit, *tat, now, units) {
            Check::Fits { tat: new, standing } => {
                *tat = new;
                Ok(standing)
            }
            Check::Wait { retry_after_ms } => Err(retry_after_ms),
        }
    }

    #[test]
    fn a_limit_allows_its_burst_then_one_unit_per_interval() {
        let (mut tat, now) = (0.0, 1_000_000.0);
        for left in (0..60).rev() {
            assert_eq!(take(60, &mut tat, now, 1).unwrap().remaining, left);
        }
        assert_eq!(take(60, &mut tat, now, 1), Err(1_000));
        assert_eq!(take(60, &mut tat, now + 999.0, 1), Err(1));
        assert!(take(60, &mut tat, now + 1_000.0, 1).is_ok());
    }

    #[test]
    fn weighted_units_and_a_request_larger_than_the_bucket() {
        let (mut tat, now) = (0.0, 0.0);
        assert_eq!(take(1_000, &mut tat, now, 400).unwrap().remaining, 600);
        assert_eq!(take(1_000, &mut tat, now, 700), Err(6_000));
        // Larger than a minute's allowance: it needs the bucket full, then fits.
        assert!(take(1_000, &mut tat, now + 24_000.0, 5_000).is_ok());
        assert_eq!(standing(1_000, tat, now + 24_000.0).remaining, 0);
    }

    #[test]
    fn giving_back_never_fills_past_full_and_extra_units_are_owed() {
        let now = 10_000.0;
        let tat = now + 30_000.0;
        assert_eq!(adjust(60, tat, now, -10), now + 20_000.0);
        assert_eq!(adjust(60, tat, now, -100), now);
        assert_eq!(adjust(60, now - 5_000.0, now, -10), now - 5_000.0);
        assert_eq!(adjust(60, tat, now, 10), now + 40_000.0);
        assert_eq!(adjust(60, now - 5_000.0, now, 10), now + 10_000.0);
    }
}
