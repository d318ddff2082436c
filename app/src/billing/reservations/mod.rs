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
//! An instance renews its leases while it lives. After a crash its leases go back at its
//! next start (same instance id) or, from any instance, once they are stale; the charges
//! it had not yet written are lost, at most one flush interval's worth.

mod store;

pub use store::PendingCharge;

use crate::clock::now_ms;
use crate::db::Db;
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
/// How often leases are renewed and stale ones of dead instances given back.
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// A lease not renewed for this long belongs to an instance presumed dead.
const STALE_AFTER: Duration = Duration::from_secs(30);
/// Charges written per transaction.
const BATCH: usize = 1_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReserveError {
    #[error("key spend cap reached")]
    KeyQuotaExhausted,
    #[error("insufficient balance")]
    InsufficientBalance,
    /// The database's own message, for the log; clients get an internal error.
    #[error("database error: {0}")]
    Database(String),
}

impl From<sqlx::Error> for ReserveError {
    fn from(err: sqlx::Error) -> Self {
        ReserveError::Database(err.to_string())
    }
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

#[derive(Default)]
struct Books {
    leases: HashMap<String, Lease>,
    pending: Vec<PendingCharge>,
}

struct Inner {
    db: Db,
    instance_id: String,
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

fn stale_before() -> i64 {
    now_ms() - STALE_AFTER.as_millis() as i64
}

impl Purse {
    /// Before serving: gives back the leases of this instance's previous run and the stale
    /// leases of others. Returns the purse and how many leases went back.
    pub async fn open(db: Db, instance_id: String) -> Result<(Purse, u64), sqlx::Error> {
        let reclaimed = store::reclaim(&db, Some(&instance_id), stale_before()).await?;
        let inner = Inner {
            db,
            instance_id,
            books: Mutex::default(),
            unwritten_charges: AtomicUsize::new(0),
            writing: tokio::sync::Mutex::new(()),
            refills: TaskTracker::new(),
        };
        Ok((Purse(Arc::new(inner)), reclaimed))
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        // The books hold plain numbers: a panic elsewhere cannot leave them half-changed.
        self.0.books.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Holds `amount` on the key (within its spend cap) and its account (within its
    /// balance), growing this instance's lease when it has no room.
    pub async fn reserve(&self, key_id: &str, account_id: &str, amount: i64) -> Result<Hold, ReserveError> {
        let amount = amount.max(0);
        loop {
            let shortfall = match self.try_hold(key_id, account_id, amount) {
                Ok(hold) => return Ok(hold),
                Err(shortfall) => shortfall,
            };
            // Another request may take the new room first; then grow again. Each round
            // either holds, or grows (the balance is finite), or is refused.
            if let Err(refused) = self.grow(key_id, account_id, shortfall, amount).await {
                // A concurrent grow may have made room meanwhile.
                return self.try_hold(key_id, account_id, amount).map_err(|_| refused);
            }
        }
    }

    /// Holds `amount` within the lease as it stands, or says how much it lacks; starts a
    /// refill when the hold leaves the lease less than half full.
    fn try_hold(&self, key_id: &str, account_id: &str, amount: i64) -> Result<Hold, i64> {
        let refill_by = {
            let mut books = self.books();
            let lease = lease_of(&mut books.leases, key_id, account_id);
            lease.last_used = Instant::now();
            let shortfall = lease.shortfall(amount);
            if shortfall > 0 {
                return Err(shortfall);
            }
            lease.held += amount;
            lease.wants_refill(amount).then(|| {
                lease.refilling = true;
                amount.saturating_mul(lease.next_ahead())
            })
        };
        if let Some(size) = refill_by {
            self.refill(key_id, account_id, size);
        }
        let (key_id, account_id) = (key_id.to_owned(), account_id.to_owned());
        Ok(Hold { purse: self.clone(), key_id, account_id, amount })
    }

    /// Grows the lease in the background while it still has room. A refused grow is left
    /// to the request that finds the lease dry: it grows by just what it lacks.
    fn refill(&self, key_id: &str, account_id: &str, size: i64) {
        let (purse, key_id, account_id) = (self.clone(), key_id.to_owned(), account_id.to_owned());
        self.0.refills.spawn(async move {
            let grown = store::grow(&purse.0.db, &purse.0.instance_id, &key_id, &account_id, size, now_ms()).await;
            let mut books = purse.books();
            let lease = lease_of(&mut books.leases, &key_id, &account_id);
            lease.refilling = false;
            match grown {
                Ok(()) => lease.leased += size,
                Err(ReserveError::Database(cause)) => tracing::warn!(error = %cause, "could not refill a lease"),
                Err(_) => lease.ahead = (lease.ahead / 2).max(LEASE_AHEAD),
            }
        });
    }

    /// Grows the lease by enough for more such requests, or by just the shortfall when
    /// the cap or balance has no more.
    async fn grow(&self, key_id: &str, account_id: &str, shortfall: i64, amount: i64) -> Result<(), ReserveError> {
        let (db, instance) = (&self.0.db, self.0.instance_id.as_str());
        let requests = lease_of(&mut self.books().leases, key_id, account_id).next_ahead();
        let ahead = shortfall + amount.saturating_mul(requests - 1);
        let granted = match store::grow(db, instance, key_id, account_id, ahead, now_ms()).await {
            Ok(()) => ahead,
            Err(ReserveError::Database(cause)) => return Err(ReserveError::Database(cause)),
            Err(_) if ahead > shortfall => {
                store::grow(db, instance, key_id, account_id, shortfall, now_ms()).await?;
                shortfall
            }
            Err(refused) => return Err(refused),
        };
        let mut books = self.books();
        lease_of(&mut books.leases, key_id, account_id).leased += granted;
        Ok(())
    }

    /// Frees a hold and records its charge (none for zero) for the next batch.
    fn settle(&self, hold: &Hold, request_id: &str, cost: i64) {
        let mut books = self.books();
        let Books { leases, pending } = &mut *books;
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
            let (batch, leased) = {
                let books = self.books();
                if books.pending.is_empty() {
                    return Ok(());
                }
                let batch = books.pending[..books.pending.len().min(BATCH)].to_vec();
                let leased: HashMap<String, i64> =
                    books.leases.iter().map(|(key_id, lease)| (key_id.clone(), lease.leased)).collect();
                (batch, leased)
            };
            // Charges leave the books only once written: a failed or cancelled write
            // leaves them for the next try.
            let written = store::write_charges(&self.0.db, &self.0.instance_id, &batch, &leased, now_ms()).await?;
            let mut books = self.books();
            books.pending.drain(..batch.len());
            self.0.unwritten_charges.store(books.pending.len(), Ordering::Relaxed);
            for (key_id, outcome) in written {
                if let Some(lease) = books.leases.get_mut(&key_id) {
                    lease.leased = if outcome.lost { 0 } else { lease.leased - outcome.released };
                    lease.unwritten -= outcome.settled;
                }
            }
        }
    }

    /// Gives back the leases no request has used for a while; or, at shutdown, all.
    async fn give_back(&self, all: bool) {
        let idle: Vec<(String, Lease)> = {
            let mut books = self.books();
            let keys: Vec<String> = books
                .leases
                .iter()
                .filter(|(_, lease)| {
                    lease.idle() || (all && lease.held == 0 && lease.unwritten == 0 && !lease.refilling)
                })
                .map(|(key_id, _)| key_id.clone())
                .collect();
            keys.into_iter().filter_map(|key_id| books.leases.remove(&key_id).map(|lease| (key_id, lease))).collect()
        };
        for (key_id, lease) in idle {
            if lease.leased == 0 {
                continue;
            }
            if let Err(err) =
                store::shrink(&self.0.db, &self.0.instance_id, &key_id, &lease.account_id, lease.leased).await
            {
                tracing::warn!(error = %err, "could not give a lease back; will retry");
                let mut books = self.books();
                lease_of(&mut books.leases, &key_id, &lease.account_id).leased += lease.leased;
            }
        }
    }

    /// Runs until dropped: writes charges every `flush_every`, gives back idle leases,
    /// renews this instance's leases and gives back stale ones of dead instances.
    pub async fn keep_books(self, flush_every: Duration) {
        let mut ticker = tokio::time::interval(flush_every);
        let mut renewed = Instant::now();
        loop {
            ticker.tick().await;
            if let Err(err) = self.flush().await {
                tracing::error!(error = %err, "writing charges failed; will retry");
            }
            self.give_back(false).await;
            if renewed.elapsed() >= RENEW_EVERY {
                renewed = Instant::now();
                if let Err(err) = self.upkeep().await {
                    tracing::warn!(error = %err, "could not renew leases");
                }
            }
        }
    }

    async fn upkeep(&self) -> Result<(), sqlx::Error> {
        store::renew(&self.0.db, &self.0.instance_id, now_ms()).await?;
        let reclaimed = store::reclaim(&self.0.db, None, stale_before()).await?;
        if reclaimed > 0 {
            tracing::warn!(reclaimed, "gave back the stale leases of instances that stopped renewing them");
        }
        Ok(())
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
