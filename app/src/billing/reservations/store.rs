//! SQL owned by reservations: leases, and the batched charges that consume them.
//!
//! Every statement keeps one equality true: a key's and an account's `reserved` are the
//! sums of their leases over all runs of all instances. Transactions write before they read (a
//! SQLite transaction that reads first cannot always upgrade to a write) and lock rows in
//! one order, leases, then keys, then accounts (each by id), so concurrent ones cannot
//! deadlock each other. (A batch that locked a lease before its key while a grow locked
//! the key before the lease deadlocked on PostgreSQL, stalling requests for a second.)

use super::super::ledger::{self, Posting};
use super::super::LedgerKind;
use super::ReserveError;
use crate::access::Actor;
use crate::audit;
use crate::db::Db;
use std::collections::{BTreeMap, HashMap};

/// A charge settled in memory and not yet written.
#[derive(Debug, Clone)]
pub struct PendingCharge {
    pub request_id: String,
    pub key_id: String,
    pub account_id: String,
    pub amount: i64,
}

/// What a written batch did to one key's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Charged in memory and now in the database (inserted or not).
    pub settled: i64,
    /// Taken off the lease (the part of `settled` the lease covered).
    pub released: i64,
    /// The lease was no longer in the database (given back when its run was presumed dead).
    pub lost: bool,
}

/// Adds `amount` to the run's lease on the key, within the key's spend cap and the
/// account's available balance, or changes nothing. A run no longer registered (presumed
/// dead) is granted nothing.
pub async fn grow(db: &Db, run_id: &str, key_id: &str, account_id: &str, amount: i64) -> Result<(), ReserveError> {
    let mut tx = db.pool().begin().await?;
    let lease = sqlx::query(
        "INSERT INTO leases (run_id, key_id, account_id, amount) SELECT $1, $2, $3, $4 FROM instances WHERE run_id = $1
         ON CONFLICT (run_id, key_id) DO UPDATE SET amount = leases.amount + excluded.amount",
    )
    .bind(run_id)
    .bind(key_id)
    .bind(account_id)
    .bind(amount)
    .execute(&mut *tx)
    .await?;
    if lease.rows_affected() == 0 {
        tx.rollback().await?;
        return Err(ReserveError::Unregistered(format!("run {run_id} is no longer registered")));
    }
    let key = sqlx::query(
        "UPDATE api_keys SET reserved = reserved + $1
         WHERE id = $2 AND account_id = $3 AND (spend_cap IS NULL OR spent + reserved + $1 <= spend_cap)",
    )
    .bind(amount)
    .bind(key_id)
    .bind(account_id)
    .execute(&mut *tx)
    .await?;
    if key.rows_affected() == 0 {
        // Rolling back also takes the amount off the lease again.
        tx.rollback().await?;
        return Err(ReserveError::KeyQuotaExhausted);
    }
    let account =
        sqlx::query("UPDATE accounts SET reserved = reserved + $1 WHERE id = $2 AND balance - reserved >= $1")
            .bind(amount)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
    if account.rows_affected() == 0 {
        tx.rollback().await?;
        return Err(ReserveError::InsufficientBalance);
    }
    tx.commit().await?;
    Ok(())
}

/// Gives `amount` of the run's lease on the key back to the key and its account.
pub async fn shrink(db: &Db, run_id: &str, key_id: &str, account_id: &str, amount: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let lease = sqlx::query("UPDATE leases SET amount = amount - $1 WHERE run_id = $2 AND key_id = $3")
        .bind(amount)
        .bind(run_id)
        .bind(key_id)
        .execute(&mut *tx)
        .await?;
    // A lease of a run presumed dead was already given back.
    if lease.rows_affected() == 1 {
        unreserve(&mut tx, key_id, account_id, amount, 0).await?;
        sqlx::query("DELETE FROM leases WHERE run_id = $1 AND key_id = $2 AND amount = 0")
            .bind(run_id)
            .bind(key_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Takes `released` off the key's and account's holds and charges `charged` to both.
async fn unreserve(
    conn: &mut sqlx::AnyConnection,
    key_id: &str,
    account_id: &str,
    released: i64,
    charged: i64,
) -> Result<(), sqlx::Error> {
    unreserve_key(conn, key_id, released, charged).await?;
    unreserve_account(conn, account_id, released, charged).await
}

async fn unreserve_key(
    conn: &mut sqlx::AnyConnection,
    key_id: &str,
    released: i64,
    charged: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_keys SET reserved = reserved - $1, spent = spent + $2 WHERE id = $3")
        .bind(released)
        .bind(charged)
        .bind(key_id)
        .execute(&mut *conn)
        .await
        .map(drop)
}

async fn unreserve_account(
    conn: &mut sqlx::AnyConnection,
    account_id: &str,
    released: i64,
    charged: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET reserved = reserved - $1, balance = balance - $2 WHERE id = $3")
        .bind(released)
        .bind(charged)
        .bind(account_id)
        .execute(&mut *conn)
        .await
        .map(drop)
}

/// A key's usage charges in one batch, as the audit log records them: one row per key and
/// batch, not per request. The ledger holds each charge under its request id; the audit row
/// says who spent how much in how many charges, and keeps the log readable (a busy key
/// settles thousands of requests a second).
fn usage_audit_entry(key_id: &str, batch: &KeyBatch) -> audit::Entry {
    let amount: i64 = batch.charged.iter().map(|charge| charge.amount).sum();
    audit::Entry::new("billing.usage", "api_key", key_id)
        .account(batch.account_id)
        .after(&serde_json::json!({ "amount": -amount, "charges": batch.charged.len() }))
}

/// One key's charges within a batch.
struct KeyBatch<'a> {
    account_id: &'a str,
    /// Everything settled in memory, including charges the ledger refused as repeats.
    settled: i64,
    /// The charges the ledger took.
    charged: Vec<&'a PendingCharge>,
}

impl<'a> KeyBatch<'a> {
    fn new(account_id: &'a str) -> Self {
        KeyBatch { account_id, settled: 0, charged: Vec::new() }
    }
}

/// Writes a batch of charges in one transaction: a usage ledger entry per charge, an audit
/// row per key that was charged, the balance and spend moved, and the leases that held them shrunk.
/// `leased` is the run's lease per key as memory knows it.
pub async fn write_charges(
    db: &Db,
    run_id: &str,
    charges: &[PendingCharge],
    leased: &HashMap<String, i64>,
) -> Result<HashMap<String, Written>, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let postings: Vec<Posting> = charges
        .iter()
        .map(|charge| Posting {
            request_id: Some(&charge.request_id),
            ..Posting::new(LedgerKind::Usage, &charge.account_id, -charge.amount)
        })
        .collect();
    // The ledger's one-usage-entry-per-request index refuses a second charge.
    let written = ledger::insert_many(&mut tx, db, &postings).await?;
    // Keys in a fixed order, so two instances' batches lock rows in the same order.
    let mut by_key: BTreeMap<&str, KeyBatch> = BTreeMap::new();
    for (charge, inserted) in charges.iter().zip(written) {
        let batch = by_key.entry(&charge.key_id).or_insert_with(|| KeyBatch::new(&charge.account_id));
        batch.settled += charge.amount;
        if inserted {
            batch.charged.push(charge);
        }
    }
    // Every change to money is audited; a usage charge is made by the key's owner. These
    // inserts come before the key and account rows are updated, so those row locks, which
    // the gateway's lease growth waits for, are held only for the last few statements.
    let charged_keys: Vec<(&str, &KeyBatch)> =
        by_key.iter().filter(|(_, batch)| !batch.charged.is_empty()).map(|(key_id, batch)| (*key_id, batch)).collect();
    let mut owners = Vec::with_capacity(charged_keys.len());
    for (key_id, _) in &charged_keys {
        let owner: String =
            sqlx::query_scalar("SELECT user_id FROM api_keys WHERE id = $1").bind(key_id).fetch_one(&mut *tx).await?;
        owners.push(Actor { user_id: owner, ip: None });
    }
    let audited: Vec<(&Actor, audit::Entry)> = charged_keys
        .iter()
        .zip(&owners)
        .map(|((key_id, batch), owner)| (owner, usage_audit_entry(key_id, batch)))
        .collect();
    audit::record_many_in(&mut tx, db, &audited).await?;
    // Leases, then keys, then accounts: the lock order of every transaction here.
    let mut outcome = HashMap::new();
    for (&key_id, batch) in &by_key {
        let covered = batch.settled.min(leased.get(key_id).copied().unwrap_or(0)).max(0);
        let lease = sqlx::query("UPDATE leases SET amount = amount - $1 WHERE run_id = $2 AND key_id = $3")
            .bind(covered)
            .bind(run_id)
            .bind(key_id)
            .execute(&mut *tx)
            .await?;
        let lost = lease.rows_affected() == 0;
        let released = if lost { 0 } else { covered };
        outcome.insert(key_id.to_owned(), Written { settled: batch.settled, released, lost });
    }
    let mut by_account: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (key_id, batch) in &by_key {
        let released = outcome[*key_id].released;
        let charged = batch.charged.iter().map(|charge| charge.amount).sum();
        unreserve_key(&mut tx, key_id, released, charged).await?;
        let account = by_account.entry(batch.account_id).or_default();
        *account = (account.0 + released, account.1 + charged);
    }
    for (account_id, (released, charged)) in by_account {
        unreserve_account(&mut tx, account_id, released, charged).await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Gives back every lease whose run is no longer registered: an instance's previous run,
/// replaced at its start, and the runs of instances presumed dead. A run that lost its row
/// never gets it back (registering again is a new run), so what is found here stays
/// unregistered. Returns how many leases were given back.
pub async fn reclaim_unregistered(db: &Db) -> Result<u64, sqlx::Error> {
    let found: Vec<(String, String)> = sqlx::query_as(
        "SELECT run_id, key_id FROM leases WHERE NOT EXISTS (SELECT 1 FROM instances WHERE instances.run_id = leases.run_id)",
    )
    .fetch_all(db.pool())
    .await?;
    let mut reclaimed = 0;
    for (run_id, key_id) in found {
        let mut tx = db.pool().begin().await?;
        // The amount as it is now, not as it was read: the old holder may still have
        // written charges against it.
        let gone: Option<(String, i64)> =
            sqlx::query_as("DELETE FROM leases WHERE run_id = $1 AND key_id = $2 RETURNING account_id, amount")
                .bind(&run_id)
                .bind(&key_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((account_id, amount)) = gone {
            unreserve(&mut tx, &key_id, &account_id, amount, 0).await?;
            reclaimed += 1;
        }
        tx.commit().await?;
    }
    Ok(reclaimed)
}
