//! Money held for requests in flight. The gateway holds a request's worst-case cost
//! before forwarding it, then settles the actual cost exactly once, or releases it.
//!
//! Holding and charging with a database transaction each capped the gateway at the
//! database's write rate, so holds live in memory, inside *leases*: an instance takes a
//! slice of a key's spend cap and of its account's balance ahead of demand (one write for
//! many requests), holds requests against it and writes their charges in batches. In the
//! database a key's and an account's `reserved` are the sums of their leases, granted by
//! conditional UPDATEs, so instances sharing a database stay within every balance and cap.
//!
//! A lease is refilled in the background once half of it is used, so requests wait for
//! the database only when a lease runs dry; its size follows demand (a busy key's lease
//! grows about once a second), because a grow on the request path set the gateway's tail
//! latency and throughput.
//!
//! Leases are held by a run of this instance (see `crate::instances`) and are as alive as
//! its heartbeat. After a crash they go back at the instance's next start (its new run
//! replaces the old) or, from any instance, once its heartbeat is stale; the charges it had
//! not yet written are lost, at most one flush interval's worth. An instance presumed dead
//! while only paused still writes the charges it owes, but holds nothing more against its
//! old leases: past its trusted time it confirms with a heartbeat first, and a new run
//! starts with no lease.

mod store;

pub use store::PendingCharge;

use crate::db::Db;
use crate::instances::{Instance, InstanceError, Run};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio_util::task::TaskTracker;

/// A lease grows by enough for this many requests like the one that needed it, at first.
const LEASE_AHEAD: i64 = 16;
/// The most requests' worth a lease grows by at once, however busy its key.
const MAX_AHEAD: i64 = 4_096;
/// Grown sooner than this after the last grow, a lease doubles the next one; later than
/// `SLOW_GROWTH`, it halves it.
const FAST_GROWTH: Duration = Duration::from_secs(1);
const SLOW_GROWTH: Duration = Duration::from_secs(5);
/// How long shutdown waits for refills under way (each is one database write).
const REFILLS_AT_CLOSE: Duration = Duration::from_secs(5);
/// A lease unused for this long goes back to its key and account.
const IDLE: Duration = Duration::from_secs(2);
/// Charges written per transaction.
const BATCH: usize = 1_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReserveError {
    #[error("key spend cap reached")]
    KeyQuotaExhausted,
    #[error("insufficient balance")]
    InsufficientBalance,
    /// This instance's run is not registered (it was presumed dead) and could not register again.
    #[error("this instance is not registered: {0}")]
    Unregistered(String),
    /// The database's own message, for the log; clients get an internal error.
    #[error("database error: {0}")]
    Database(String),
}

impl From<sqlx::Error> for ReserveError {
    fn from(err: sqlx::Error) -> Self {
        ReserveError::Database(err.to_string())
    }
}

impl From<InstanceError> for ReserveError {
    fn from(err: InstanceError) -> Self {
        match err {
            InstanceError::Database(err) => err.into(),
            InstanceError::NoHeartbeat => ReserveError::Database(err.to_string()),
            InstanceError::Taken(_) => ReserveError::Unregistered(err.to_string()),
        }
    }
}

/// Why a hold could not be taken from the lease as it stands.
enum Lacking {
    /// The lease needs this much more.
    Room(i64),
    /// The leases may have been given back: this instance must confirm it is registered.
    Confirmation,
}

/// This instance's lease on one key, and what is held and charged against it.
struct Lease {
    account_id: String,
    /// In the database as this instance's lease.
    leased: i64,
    /// Held by requests in flight.
    held: i64,
    /// Charged and not yet written; still part of `leased` until it is.
    unwritten: i64,
    last_used: Instant,
    /// How many requests' worth the next grow asks for.
    ahead: i64,
    last_grown: Option<Instant>,
    /// A grow is under way in the background.
    refilling: bool,
}

impl Lease {
    fn new(account_id: &str) -> Lease {
        Lease {
            account_id: account_id.to_owned(),
            leased: 0,
            held: 0,
            unwritten: 0,
            last_used: Instant::now(),
            ahead: LEASE_AHEAD,
            last_grown: None,
            refilling: false,
        }
    }

    /// How much more the lease needs to hold `amount` too (zero or less: it has room).
    fn shortfall(&self, amount: i64) -> i64 {
        self.held + self.unwritten + amount - self.leased
    }

    /// Whether, after holding `amount`, the lease should grow before it runs dry.
    fn wants_refill(&self, amount: i64) -> bool {
        !self.refilling && -self.shortfall(0) < amount.saturating_mul(self.ahead) / 2
    }

    /// The size of the next grow, in requests: doubled while grows come fast, halved
    /// when they come slowly.
    fn next_ahead(&mut self) -> i64 {
        match self.last_grown.map(|at| at.elapsed()) {
            Some(since) if since < FAST_GROWTH => self.ahead = (self.ahead * 2).min(MAX_AHEAD),
            Some(since) if since > SLOW_GROWTH => self.ahead = (self.ahead / 2).max(LEASE_AHEAD),
            _ => {}
        }
        self.last_grown = Some(Instant::now());
        self.ahead
    }

    fn idle(&self) -> bool {
        self.held == 0 && self.unwritten == 0 && !self.refilling && self.last_used.elapsed() >= IDLE
    }
}

/// The key's lease, created empty when there is none. Looked up by `&str` first, so the
/// request path allocates no key string once the lease exists.
fn lease_of<'a>(leases: &'a mut HashMap<String, Lease>, key_id: &str, account_id: &str) -> &'a mut Lease {
    if !leases.contains_key(key_id) {
        leases.insert(key_id.to_owned(), Lease::new(account_id));
    }
    leases.get_mut(key_id).expect("inserted above")
}

struct Books {
    /// The run the leases were granted to.
    run: Arc<Run>,
    leases: HashMap<String, Lease>,
    pending: Vec<PendingCharge>,
}

impl Books {
    /// A new run starts with no lease: the old run's went back to their keys and accounts
    /// when it was presumed dead. What requests hold and have charged stays, for the new
    /// run's leases to cover.
    fn adopt(&mut self, run: Arc<Run>) {
        self.run = run;
        for lease in self.leases.values_mut() {
            lease.leased = 0;
        }
    }

    /// Whether the leases are still those of `run` (it was not presumed dead meanwhile).
    fn kept_for(&self, run: &Run) -> bool {
        self.run.generation == run.generation
    }
}

struct Inner {
    db: Db,
    instance: Arc<Instance>,
    books: Mutex<Books>,
    /// `books.pending.len()`, readable without the lock: the gateway checks it on every
    /// request to refuse new ones while charges pile up.
    unwritten_charges: AtomicUsize,
    /// One batch of charges is written at a time.
    writing: tokio::sync::Mutex<()>,
    /// The refills under way, which `close` waits for.
    refills: TaskTracker,
}

/// The holds and leases of this instance.
#[derive(Clone)]
pub struct Purse(Arc<Inner>);

impl Purse {
    /// Before serving, once the instance has joined: gives back the leases of runs no longer
    /// registered, this instance's previous run and the instances presumed dead. Returns
    /// the purse and how many leases went back.
    pub async fn open(db: Db, instance: Arc<Instance>) -> Result<(Purse, u64), sqlx::Error> {
        let reclaimed = store::reclaim_unregistered(&db).await?;
        let books = Books { run: instance.run(), leases: HashMap::new(), pending: Vec::new() };
        let inner = Inner {
            db,
            instance,
            books: Mutex::new(books),
            unwritten_charges: AtomicUsize::new(0),
            writing: tokio::sync::Mutex::new(()),
            refills: TaskTracker::new(),
        };
        Ok((Purse(Arc::new(inner)), reclaimed))
    }

    /// The books, of this instance's current run.
    fn books(&self) -> MutexGuard<'_, Books> {
        // The books hold plain numbers: a panic elsewhere cannot leave them half-changed.
        let mut books = self.0.books.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.0.instance.generation() > books.run.generation {
            books.adopt(self.0.instance.run());
        }
        books
    }

    /// Holds `amount` on the key (within its spend cap) and its account (within its
    /// balance), growing this instance's lease when it has no room.
    pub async fn reserve(&self, key_id: &str, account_id: &str, amount: i64) -> Result<Hold, ReserveError> {
        let amount = amount.max(0);
        loop {
            let shortfall = match self.try_hold(key_id, account_id, amount) {
                Ok(hold) => return Ok(hold),
                Err(Lacking::Room(shortfall)) => shortfall,
                Err(Lacking::Confirmation) => {
                    self.0.instance.confirm().await?;
                    continue;
                }
            };
            // Another request may take the new room first; then grow again. Each round
            // either holds, or grows (the balance is finite), or is refused.
            if let Err(refused) = self.grow(key_id, account_id, shortfall, amount).await {
                // A concurrent grow may have made room meanwhile.
                return self.try_hold(key_id, account_id, amount).map_err(|_| refused);
            }
        }
    }

    /// Holds `amount` within the lease as it stands, or says what it lacks; starts a
    /// refill when the hold leaves the lease less than half full.
    fn try_hold(&self, key_id: &str, account_id: &str, amount: i64) -> Result<Hold, Lacking> {
        if !self.0.instance.trusted() {
            return Err(Lacking::Confirmation);
        }
        let refill_by = {
            let mut books = self.books();
            let Books { run, leases, .. } = &mut *books;
            let lease = lease_of(leases, key_id, account_id);
            lease.last_used = Instant::now();
            let shortfall = lease.shortfall(amount);
            if shortfall > 0 {
                return Err(Lacking::Room(shortfall));
            }
            lease.held += amount;
            lease.wants_refill(amount).then(|| {
                lease.refilling = true;
                (run.clone(), amount.saturating_mul(lease.next_ahead()))
            })
        };
        if let Some((run, size)) = refill_by {
            self.refill(run, key_id, account_id, size);
        }
        let (key_id, account_id) = (key_id.to_owned(), account_id.to_owned());
        Ok(Hold { purse: self.clone(), key_id, account_id, amount })
    }

    /// Grows the lease in the background while it still has room. A refused grow is left
    /// to the request that finds the lease dry: it grows by just what it lacks.
    fn refill(&self, run: Arc<Run>, key_id: &str, account_id: &str, size: i64) {
        let (purse, key_id, account_id) = (self.clone(), key_id.to_owned(), account_id.to_owned());
        self.0.refills.spawn(async move {
            let grown = store::grow(&purse.0.db, &run.id, &key_id, &account_id, size).await;
            let mut books = purse.books();
            let current = books.kept_for(&run);
            let lease = lease_of(&mut books.leases, &key_id, &account_id);
            lease.refilling = false;
            match grown {
                Ok(()) if current => lease.leased += size,
                // Granted to a run since presumed dead: it went back with that run's leases.
                Ok(()) => {}
                Err(ReserveError::Database(cause)) => tracing::warn!(error = %cause, "could not refill a lease"),
                Err(ReserveError::Unregistered(_)) => purse.0.instance.lapse(),
                Err(_) => lease.ahead = (lease.ahead / 2).max(LEASE_AHEAD),
            }
        });
    }

    /// Grows the lease by enough for more such requests, or by just the shortfall when
    /// the cap or balance has no more. A grow that finds this run unregistered stops the
    /// leases being trusted, so the next request confirms (and registers again) first.
    async fn grow(&self, key_id: &str, account_id: &str, shortfall: i64, amount: i64) -> Result<(), ReserveError> {
        let grown = self.grow_run(key_id, account_id, shortfall, amount).await;
        if let Err(ReserveError::Unregistered(_)) = grown {
            self.0.instance.lapse();
        }
        grown
    }

    async fn grow_run(&self, key_id: &str, account_id: &str, shortfall: i64, amount: i64) -> Result<(), ReserveError> {
        let (run, requests) = {
            let mut books = self.books();
            let run = books.run.clone();
            (run, lease_of(&mut books.leases, key_id, account_id).next_ahead())
        };
        let db = &self.0.db;
        let ahead = shortfall + amount.saturating_mul(requests - 1);
        let granted = match store::grow(db, &run.id, key_id, account_id, ahead).await {
            Ok(()) => ahead,
            Err(err @ (ReserveError::Database(_) | ReserveError::Unregistered(_))) => return Err(err),
            Err(_) if ahead > shortfall => {
                store::grow(db, &run.id, key_id, account_id, shortfall).await?;
                shortfall
            }
            Err(refused) => return Err(refused),
        };
        let mut books = self.books();
        // A run presumed dead meanwhile lost this grant with its other leases.
        if books.kept_for(&run) {
            lease_of(&mut books.leases, key_id, account_id).leased += granted;
        }
        Ok(())
    }

    /// Frees a hold and records its charge (none for zero) for the next batch.
    fn settle(&self, hold: &Hold, request_id: &str, cost: i64) {
        let mut books = self.books();
        let Books { leases, pending, .. } = &mut *books;
        let lease = lease_of(leases, &hold.key_id, &hold.account_id);
        lease.held -= hold.amount;
        if cost > 0 {
            lease.unwritten += cost;
            pending.push(PendingCharge {
                request_id: request_id.to_owned(),
                key_id: hold.key_id.clone(),
                account_id: hold.account_id.clone(),
                amount: cost,
            });
            self.0.unwritten_charges.store(pending.len(), Ordering::Relaxed);
        }
    }

    /// How many charges are settled in memory and not yet written.
    pub fn unwritten_charges(&self) -> usize {
        self.0.unwritten_charges.load(Ordering::Relaxed)
    }

    /// Writes the charges recorded so far, a batch at a time.
    pub async fn flush(&self) -> Result<(), sqlx::Error> {
        let _writing = self.0.writing.lock().await;
        loop {
            let (run, batch, leased) = {
                let books = self.books();
                if books.pending.is_empty() {
                    return Ok(());
                }
                let batch = books.pending[..books.pending.len().min(BATCH)].to_vec();
                let leased: HashMap<String, i64> =
                    books.leases.iter().map(|(key_id, lease)| (key_id.clone(), lease.leased)).collect();
                (books.run.clone(), batch, leased)
            };
            // Charges leave the books only once written: a failed or cancelled write
            // leaves them for the next try.
            let written = store::write_charges(&self.0.db, &run.id, &batch, &leased).await?;
            let mut books = self.books();
            let current = books.kept_for(&run);
            books.pending.drain(..batch.len());
            self.0.unwritten_charges.store(books.pending.len(), Ordering::Relaxed);
            for (key_id, outcome) in written {
                if let Some(lease) = books.leases.get_mut(&key_id) {
                    if current {
                        lease.leased = if outcome.lost { 0 } else { lease.leased - outcome.released };
                    }
                    lease.unwritten -= outcome.settled;
                }
            }
        }
    }

    /// Gives back the leases no request has used for a while; or, at shutdown, all.
    async fn give_back(&self, all: bool) {
        let (run, idle): (Arc<Run>, Vec<(String, Lease)>) = {
            let mut books = self.books();
            let keys: Vec<String> = books
                .leases
                .iter()
                .filter(|(_, lease)| {
                    lease.idle() || (all && lease.held == 0 && lease.unwritten == 0 && !lease.refilling)
                })
                .map(|(key_id, _)| key_id.clone())
                .collect();
            let idle = keys
                .into_iter()
                .filter_map(|key_id| books.leases.remove(&key_id).map(|lease| (key_id, lease)))
                .collect();
            (books.run.clone(), idle)
        };
        for (key_id, lease) in idle {
            if lease.leased == 0 {
                continue;
            }
            if let Err(err) = store::shrink(&self.0.db, &run.id, &key_id, &lease.account_id, lease.leased).await {
                tracing::warn!(error = %err, "could not give a lease back; will retry");
                let mut books = self.books();
                if books.kept_for(&run) {
                    lease_of(&mut books.leases, &key_id, &lease.account_id).leased += lease.leased;
                }
            }
        }
    }

    /// Runs until dropped: writes charges every `flush_every`, gives back idle leases,
    /// and, as often as the instance heartbeats, the leases of instances presumed dead.
    pub async fn keep_books(self, flush_every: Duration) {
        let mut ticker = tokio::time::interval(flush_every);
        let mut swept = Instant::now();
        loop {
            ticker.tick().await;
            if let Err(err) = self.flush().await {
                tracing::error!(error = %err, "writing charges failed; will retry");
            }
            self.give_back(false).await;
            if swept.elapsed() >= self.0.instance.beat_every() {
                swept = Instant::now();
                self.reclaim_from_the_dead().await;
            }
        }
    }

    async fn reclaim_from_the_dead(&self) {
        match store::reclaim_unregistered(&self.0.db).await {
            Ok(0) => {}
            Ok(reclaimed) => tracing::warn!(reclaimed, "gave back the leases of instances presumed dead"),
            Err(err) => tracing::warn!(error = %err, "could not give back the leases of instances presumed dead"),
        }
    }

    /// At shutdown, once no request is in flight: writes every charge and gives every lease back.
    pub async fn close(&self) {
        for attempt in 1..=10 {
            match self.flush().await {
                Ok(()) => break,
                Err(err) => tracing::error!(attempt, error = %err, "writing charges at shutdown failed"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // A refill finishing after its lease went back would lease money nobody gives back
        // until this instance's next start; each is one database write.
        self.0.refills.close();
        if tokio::time::timeout(REFILLS_AT_CLOSE, self.0.refills.wait()).await.is_err() {
            tracing::warn!("refills still under way at shutdown; their leases go back at the next start");
        }
        self.give_back(true).await;
    }
}

/// Money held for one request. Settle it with the actual cost; dropped unsettled, it is
/// released and nothing is charged.
pub struct Hold {
    purse: Purse,
    key_id: String,
    account_id: String,
    amount: i64,
}

impl Hold {
    pub fn amount(&self) -> i64 {
        self.amount
    }

    /// Charges `cost` (a negative cost counts as zero) and frees the hold; returns the
    /// charge. The gateway never asks for more than the hold (`amount`).
    pub fn settle(mut self, request_id: &str, cost: i64) -> i64 {
        let cost = cost.max(0);
        self.purse.settle(&self, request_id, cost);
        self.amount = 0;
        cost
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.amount > 0 {
            let mut books = self.purse.books();
            if let Some(lease) = books.leases.get_mut(&self.key_id) {
                lease.held -= self.amount;
            }
        }
    }
}
