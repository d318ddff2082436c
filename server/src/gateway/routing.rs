//! Which channels to try, in which order: enabled and healthy ones, highest priority
//! first, weighted at random among equals.

use super::catalog::{CatalogModel, Target};
use rand::Rng;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive failures that take a channel out of rotation, and for how long.
const TRIP_AFTER: u32 = 3;
const COOL_DOWN: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Health {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Health {
    pub fn is_healthy(&self, channel_id: &str) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(channel_id) {
            Some((count, last)) => *count < TRIP_AFTER || last.elapsed() >= COOL_DOWN,
            None => true,
        }
    }

    pub fn record(&self, channel_id: &str, succeeded: bool) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if succeeded {
            failures.remove(channel_id);
        } else {
            let entry = failures.entry(channel_id.to_owned()).or_insert((0, Instant::now()));
            *entry = (entry.0.saturating_add(1), Instant::now());
        }
    }
}

/// The channels to try for `model`, at most `max_attempts`.
pub fn plan(model: &CatalogModel, health: &Health, max_attempts: usize) -> Vec<Target> {
    let mut eligible: Vec<Target> =
        model.targets.iter().filter(|t| t.channel.enabled && health.is_healthy(&t.channel.id)).cloned().collect();
    eligible.sort_by_key(|target| std::cmp::Reverse(target.channel.priority));
    let mut ordered = Vec::with_capacity(eligible.len());
    let mut rng = rand::thread_rng();
    while !eligible.is_empty() {
        let priority = eligible[0].channel.priority;
        let tier_len = eligible.iter().take_while(|t| t.channel.priority == priority).count();
        let mut tier: Vec<Target> = eligible.drain(..tier_len).collect();
        while !tier.is_empty() {
            let total: i64 = tier.iter().map(|t| t.channel.weight.max(1)).sum();
            let mut pick = rng.gen_range(0..total);
            let index = tier
                .iter()
                .position(|t| {
                    pick -= t.channel.weight.max(1);
                    pick < 0
                })
                .unwrap_or(0);
            ordered.push(tier.remove(index));
        }
    }
    ordered.truncate(max_attempts);
    ordered
}
