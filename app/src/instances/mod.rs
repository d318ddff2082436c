//! The instances sharing a database. Each registers a row at start and heartbeats it every
//! sixth of the stale time; an instance whose heartbeat is older than the stale time is
//! presumed dead: any instance deletes its row, and the leases of money its run held go
//! back (see `billing::reservations`).
//!
//! A presumed-dead instance may only have been paused, or cut off from the database, and
//! come back believing it still holds its leases. So an instance trusts its leases only
//! for two thirds of the stale time after its last heartbeat the database took; past
//! that, it confirms with a heartbeat before it holds money again. A heartbeat that finds
//! the row gone registers a new *run*: the old run's leases are gone, and its leases are
//! counted from nothing (`Run::generation` tells the purse).

mod store;

pub use store::Peer;

use crate::clock::{new_id, now_ms};
use crate::db::Db;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Heartbeats per stale time: a slow or missed beat is far from being presumed dead.
const BEATS_PER_STALE: u32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the last heartbeat did not reach the database")]
    NoHeartbeat,
    #[error(
        "the instance id {0} was registered by another running process; every instance sharing a database needs its own id"
    )]
    Taken(String),
}

/// One registration of this instance: what holds its leases of money.
#[derive(Debug)]
pub struct Run {
    pub id: String,
    /// Counts this instance's registrations since it started (0 first).
    pub generation: u64,
}

/// This instance's registration among those sharing the database.
pub struct Instance {
    db: Db,
    id: String,
    address: String,
    stale_after: Duration,
    run: Mutex<Arc<Run>>,
    /// `run`'s generation, read on every hold without the lock.
    generation: AtomicU64,
    trust: Trust,
    live: AtomicUsize,
    /// One heartbeat at a time: requests finding the trust lapsed wait for the same one.
    beating: tokio::sync::Mutex<()>,
    /// Heartbeats tried, so a request that waited for a failed one does not try again.
    beats: AtomicU64,
}

impl Instance {
    /// Registers this instance as a new run at start-up, taking over the row of its
    /// previous run (whose leases then belong to no registered run), and forgets the
    /// instances whose heartbeat is stale. Instance ids are unique, so a row with this
    /// id can only be the previous run's (see `server::bootstrap::instance_id`).
    pub async fn join(db: Db, id: String, address: String, stale_after: Duration) -> Result<Instance, sqlx::Error> {
        let (sent, now) = (Instant::now(), now_ms());
        let run = Run { id: new_id(), generation: 0 };
        store::register(&db, &new_run(&id, &run, &address, now), true).await?;
        let instance = Instance {
            db,
            id,
            address,
            stale_after,
            run: Mutex::new(Arc::new(run)),
            generation: AtomicU64::new(0),
            trust: Trust::new(),
            live: AtomicUsize::new(1),
            beating: tokio::sync::Mutex::new(()),
            beats: AtomicU64::new(0),
        };
        instance.trust.extend(sent, now, instance.trusted_for());
        instance.census().await?;
        Ok(instance)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// How often the heartbeat is written.
    pub fn beat_every(&self) -> Duration {
        self.stale_after / BEATS_PER_STALE
    }

    /// How long after a heartbeat this instance's leases are surely still its own: the
    /// rest of the stale time is margin for clocks that differ between hosts.
    fn trusted_for(&self) -> Duration {
        self.stale_after * 2 / 3
    }

    fn fresh_since(&self) -> i64 {
        now_ms() - self.stale_after.as_millis() as i64
    }

    pub fn run(&self) -> Arc<Run> {
        self.run.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether this instance may act on its leases without asking the database.
    pub fn trusted(&self) -> bool {
        self.trust.holds()
    }

    /// Stops trusting the leases until the next heartbeat: the database said this run
    /// is not registered.
    pub fn lapse(&self) {
        self.trust.lapse()
    }

    /// Instances with a fresh heartbeat, this one included, as of the last heartbeat.
    pub fn live_instances(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The other instances with a fresh heartbeat.
    pub async fn peers(&self) -> Result<Vec<Peer>, sqlx::Error> {
        store::peers(&self.db, &self.id, self.fresh_since()).await
    }

    /// Makes the leases trusted again: heartbeats now, unless another caller just did;
    /// registers a new run when this one was presumed dead. While the database is out of
    /// reach, the requests waiting here share one failed heartbeat rather than each
    /// waiting for its own.
    pub async fn confirm(&self) -> Result<(), InstanceError> {
        let tried = self.beats.load(Ordering::Relaxed);
        let _beating = self.beating.lock().await;
        if self.trusted() {
            return Ok(());
        }
        if self.beats.load(Ordering::Relaxed) != tried {
            return Err(InstanceError::NoHeartbeat);
        }
        self.beat().await
    }

    /// Runs until dropped: heartbeats, forgets the instances presumed dead, counts the live.
    pub async fn keep_alive(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(self.beat_every());
        // After a pause, one beat, not a burst of the missed ones.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let beat = {
                let _beating = self.beating.lock().await;
                self.beat().await
            };
            if let Err(err) = beat {
                tracing::warn!(error = %err, "heartbeat failed; will retry");
            }
            if let Err(err) = self.census().await {
                tracing::warn!(error = %err, "could not check the other instances' heartbeats");
            }
        }
    }

    /// At shutdown, once the leases went back: deletes this run's row.
    pub async fn leave(&self) {
        if let Err(err) = store::leave(&self.db, &self.run().id).await {
            tracing::warn!(error = %err, "could not end this instance's registration; it goes once stale");
        }
    }

    async fn beat(&self) -> Result<(), InstanceError> {
        let beat = self.beat_once().await;
        self.beats.fetch_add(1, Ordering::Relaxed);
        beat
    }

    async fn beat_once(&self) -> Result<(), InstanceError> {
        let (sent, now) = (Instant::now(), now_ms());
        let run = self.run();
        if store::heartbeat(&self.db, &run.id, now).await? {
            self.trust.extend(sent, now, self.trusted_for());
            return Ok(());
        }
        self.trust.lapse();
        let next = Run { id: new_id(), generation: run.generation + 1 };
        if !store::register(&self.db, &new_run(&self.id, &next, &self.address, now), false).await? {
            return Err(InstanceError::Taken(self.id.clone()));
        }
        tracing::warn!(
            instance = %self.id,
            "this instance's heartbeat had gone stale and its leases were given back; registered again"
        );
        let generation = next.generation;
        *self.run.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(next);
        self.generation.store(generation, Ordering::Release);
        self.trust.extend(sent, now, self.trusted_for());
        Ok(())
    }

    async fn census(&self) -> Result<(), sqlx::Error> {
        for dead in store::forget_stale(&self.db, self.fresh_since()).await? {
            let silent_for = Duration::from_millis((now_ms() - dead.heartbeat_at).max(0) as u64);
            tracing::warn!(instance = %dead.instance_id, ?silent_for, "presumed dead: its heartbeat stopped");
        }
        let live = store::count_live(&self.db, self.fresh_since()).await?;
        self.live.store(live.max(1) as usize, Ordering::Relaxed);
        Ok(())
    }
}

fn new_run<'a>(instance_id: &'a str, run: &'a Run, address: &'a str, now: i64) -> store::NewRun<'a> {
    store::NewRun { instance_id, run_id: &run.id, address, version: env!("CARGO_PKG_VERSION"), now }
}

/// Until when the leases are trusted, on both clocks: the monotonic one stands still while
/// the host is suspended (a paused virtual machine), and the wall clock, which the other
/// instances judge staleness by, can be set back.
struct Trust {
    origin: Instant,
    /// Milliseconds since `origin`.
    monotonic_until: AtomicU64,
    wall_until: AtomicI64,
}

impl Trust {
    fn new() -> Trust {
        Trust { origin: Instant::now(), monotonic_until: AtomicU64::new(0), wall_until: AtomicI64::new(0) }
    }

    /// From a heartbeat sent at `sent` carrying the wall time `wall`.
    fn extend(&self, sent: Instant, wall: i64, by: Duration) {
        let since_origin = sent.saturating_duration_since(self.origin) + by;
        self.monotonic_until.store(since_origin.as_millis() as u64, Ordering::Relaxed);
        self.wall_until.store(wall + by.as_millis() as i64, Ordering::Relaxed);
    }

    fn holds(&self) -> bool {
        (self.origin.elapsed().as_millis() as u64) < self.monotonic_until.load(Ordering::Relaxed)
            && now_ms() < self.wall_until.load(Ordering::Relaxed)
    }

    fn lapse(&self) {
        self.monotonic_until.store(0, Ordering::Relaxed);
    }
}
