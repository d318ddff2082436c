//! Money held for requests in flight. The gateway reserves a request's worst-case cost
//! before forwarding it, then settles the actual cost exactly once, or releases it.
//!
//! `accounts.reserved` and `api_keys.reserved` are the sums of the open reservations, so
//! reserving is one conditional UPDATE per row: atomic on SQLite and PostgreSQL, and
//! across instances sharing PostgreSQL. Each operation is one transaction that writes
//! before it reads (a SQLite transaction that reads first cannot always upgrade to a
//! write) and changes the key's row before the account's, so concurrent ones cannot
//! deadlock each other.

use super::ledger::{self, Posting};
use super::LedgerKind;
use crate::access::Actor;
use crate::audit;
use crate::clock::now_ms;
use crate::db::Db;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub request_id: String,
    pub account_id: String,
    pub key_id: String,
    pub amount: i64,
}

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

/// Holds `amount` on the key (within its spend cap; no cap means no limit) and on the
/// account (within its balance less what other requests hold), or on neither.
pub async fn reserve(db: &Db, reservation: &Reservation) -> Result<(), ReserveError> {
    let mut tx = db.pool().begin().await?;
    let key = sqlx::query(
        "UPDATE api_keys SET reserved = reserved + $1
         WHERE id = $2 AND account_id = $3 AND (spend_cap IS NULL OR spent + reserved + $1 <= spend_cap)",
    )
    .bind(reservation.amount)
    .bind(&reservation.key_id)
    .bind(&reservation.account_id)
    .execute(&mut *tx)
    .await?;
    if key.rows_affected() == 0 {
        tx.rollback().await?;
        return Err(ReserveError::KeyQuotaExhausted);
    }
    let account =
        sqlx::query("UPDATE accounts SET reserved = reserved + $1 WHERE id = $2 AND balance - reserved >= $1")
            .bind(reservation.amount)
            .bind(&reservation.account_id)
            .execute(&mut *tx)
            .await?;
    if account.rows_affected() == 0 {
        // Rolling back also takes the amount off the key again.
        tx.rollback().await?;
        return Err(ReserveError::InsufficientBalance);
    }
    sqlx::query(
        "INSERT INTO reservations (request_id, account_id, key_id, amount, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&reservation.request_id)
    .bind(&reservation.account_id)
    .bind(&reservation.key_id)
    .bind(reservation.amount)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Charges the request's actual cost (a negative cost counts as zero) and frees its
/// reservation. Exactly once per request id: the call that closes the reservation charges,
/// any later call finds none and returns `None`. Returns what was charged; a usage entry
/// is written unless that is zero. The charge may exceed the reservation, when the
/// upstream reports more usage than the worst case allowed for.
pub async fn settle(db: &Db, request_id: &str, actual_cost: i64) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let open: Option<(String, String, i64)> =
        sqlx::query_as("DELETE FROM reservations WHERE request_id = $1 RETURNING account_id, key_id, amount")
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((account_id, key_id, reserved)) = open else {
        tx.rollback().await?;
        return Ok(None);
    };
    let cost = actual_cost.max(0);
    let usage = Posting { request_id: Some(request_id), ..Posting::new(LedgerKind::Usage, &account_id, -cost) };
    // The ledger's one-usage-entry-per-request index refuses a second charge for a request
    // id that was reserved again after being settled; then only the reservation is freed.
    let charged = if cost > 0 && ledger::insert(&mut tx, &usage).await?.is_some() { cost } else { 0 };
    let owner: String = sqlx::query_scalar(
        "UPDATE api_keys SET reserved = reserved - $1, spent = spent + $2 WHERE id = $3 RETURNING user_id",
    )
    .bind(reserved)
    .bind(charged)
    .bind(&key_id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE accounts SET reserved = reserved - $1, balance = balance - $2 WHERE id = $3")
        .bind(reserved)
        .bind(charged)
        .bind(&account_id)
        .execute(&mut *tx)
        .await?;
    if charged > 0 {
        // Every change to money is audited; a usage charge is made by the key's owner.
        let actor = Actor { user_id: owner, ip: None };
        let entry = audit::Entry::new("billing.usage", "request", request_id)
            .account(&account_id)
            .after(&serde_json::json!({ "amount": -charged, "key_id": key_id }));
        audit::record_in(&mut *tx, &actor, entry).await?;
    }
    tx.commit().await?;
    Ok(Some(charged))
}

/// Frees the reservation of a request that never reached a model: nothing is charged.
pub async fn release(db: &Db, request_id: &str) -> Result<(), sqlx::Error> {
    settle(db, request_id, 0).await.map(drop)
}

/// Crash recovery at start-up: frees every open reservation, returns how many.
///
/// Only for a start when no other instance is serving from the same database: their
/// requests in flight would lose their reservations and go unbilled.
pub async fn release_all_open(db: &Db) -> Result<u64, sqlx::Error> {
    let open: Vec<String> = sqlx::query_scalar("SELECT request_id FROM reservations").fetch_all(db.pool()).await?;
    let mut released = 0;
    for request_id in open {
        if settle(db, &request_id, 0).await?.is_some() {
            released += 1;
        }
    }
    Ok(released)
}
