//! The limits of one instance, kept in this process: the engine when no Redis is
//! configured, and each instance's share of the limits while Redis is down.

use super::gcra::{self, Check, Standing};
use super::{Demand, Refusal, Settlement, Taken};
use std::collections::HashMap;
use std::sync::Mutex;

/// Names not touched for a minute are dropped once a table holds this many.
const TIDY_ABOVE: usize = 10_000;

#[derive(Default)]
struct Tables {
    /// Theoretical arrival time per budget name (milliseconds).
    tats: HashMap<String, f64>,
    /// Slots taken per slot name.
    slots: HashMap<String, u64>,
}

#[derive(Default)]
pub struct Local {
    tables: Mutex<Tables>,
}

impl Local {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // Plain numbers: a panic elsewhere cannot leave them half-changed.
        self.tables.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the demand, all or nothing, each limit divided by `share` (one instance's part
    /// of a limit several instances enforce on their own).
    pub fn admit(&self, demand: &Demand, now: f64, share: u64) -> Result<Vec<Standing>, Refusal> {
        let mut tables = self.tables();
        if tables.tats.len() > TIDY_ABOVE {
            tables.tats.retain(|_, tat| *tat > now);
        }
        let mut taken = Vec::with_capacity(demand.budgets.len());
        for (index, budget) in demand.budgets.iter().enumerate() {
            let limit = Taken::Local { share }.limit(budget.per_minute);
            let tat = tables.tats.get(&budget.name).copied().unwrap_or(0.0);
            match gcra::check(limit, tat, now, budget.units) {
                Check::Fits { tat, standing } => taken.push((tat, standing)),
                Check::Wait { retry_after_ms } => return Err(Refusal::Budget { index, retry_after_ms }),
            }
        }
        if let Some(slots) = &demand.slots {
            let limit = Taken::Local { share }.limit(slots.limit);
            let used = tables.slots.entry(slots.name.clone()).or_default();
            if *used >= limit {
                return Err(Refusal::Slots);
            }
            *used += 1;
        }
        let mut standings = Vec::with_capacity(taken.len());
        for (budget, (tat, standing)) in demand.budgets.iter().zip(taken) {
            tables.tats.insert(budget.name.clone(), tat);
            standings.push(standing);
        }
        Ok(standings)
    }

    pub fn settle(&self, settlement: &Settlement, now: f64) {
        let mut tables = self.tables();
        for (name, limit, delta) in settlement.moves() {
            let tat = tables.tats.entry(name.to_owned()).or_insert(0.0);
            *tat = gcra::adjust(limit, *tat, now, delta);
        }
        if let Some(slots) = settlement.slots() {
            if let Some(used) = tables.slots.get_mut(&slots.name) {
                *used = used.saturating_sub(1);
                if *used == 0 {
                    tables.slots.remove(&slots.name);
                }
            }
        }
    }

    pub fn forget(&self, name: &str) {
        self.tables().tats.remove(name);
    }
}
