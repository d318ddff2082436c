//! Keeping the usage log within bounds in time.
//!
//! On PostgreSQL the table is partitioned by month (migration 0010): the partitions of this
//! month and the next ones are created ahead, so rows never fall into the default partition,
//! and a retention drops the months entirely older than it, whole. On SQLite a retention
//! deletes old rows in small batches with a pause between them, so the gateway's batch
//! writer is never locked out for long.

use crate::clock::now_ms;
use crate::db::{Backend, Db};
use std::time::Duration;

/// Months of partitions kept ready after the current one: a month's partition exists
/// weeks before its first row, however long the upkeep fails.
const MONTHS_AHEAD: i32 = 2;
/// Rows deleted per statement, and the pause between statements.
const DELETE_BATCH: i64 = 5_000;
const DELETE_PAUSE: Duration = Duration::from_millis(200);
/// How often partitions are created ahead and old rows removed.
const UPKEEP_EVERY: Duration = Duration::from_secs(3600);
const DAY_MS: i64 = 86_400_000;

/// What one pass of the retention removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// Month partitions dropped (PostgreSQL).
    pub partitions: Vec<String>,
    /// Rows deleted one by one: SQLite's, and those of PostgreSQL's default partition.
    pub rows: u64,
}

/// Creates the month partitions from the month of `now` to [`MONTHS_AHEAD`] after it
/// (PostgreSQL; nothing to do on SQLite). Returns how many were new.
pub async fn prepare(db: &Db, now: i64) -> Result<i32, sqlx::Error> {
    if db.backend() == Backend::Sqlite {
        return Ok(0);
    }
    sqlx::query_scalar("SELECT usage_logs_add_months($1, $2)").bind(now).bind(MONTHS_AHEAD).fetch_one(db.pool()).await
}

/// Removes the rows older than `cutoff` (UTC unix ms). On PostgreSQL a month is dropped
/// only once all of it is older, so rows outlive the retention by up to a month there.
pub async fn expire(db: &Db, cutoff: i64) -> Result<Expired, sqlx::Error> {
    match db.backend() {
        Backend::Sqlite => Ok(Expired { partitions: Vec::new(), rows: delete_before(db, "usage_logs", cutoff).await? }),
        Backend::Postgres => {
            let partitions = sqlx::query_scalar("SELECT usage_logs_drop_months_before($1)")
                .bind(cutoff)
                .fetch_all(db.pool())
                .await?;
            let rows = delete_before(db, "usage_logs_default", cutoff).await?;
            Ok(Expired { partitions, rows })
        }
    }
}

/// Deletes `table`'s rows older than `cutoff`, [`DELETE_BATCH`] per statement: each
/// statement holds the write lock for a moment, not for the whole backlog.
async fn delete_before(db: &Db, table: &str, cutoff: i64) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "DELETE FROM {table} WHERE request_id IN (SELECT request_id FROM {table} WHERE created_at < $1 LIMIT $2)"
    );
    let mut deleted = 0;
    loop {
        let batch = sqlx::query(&sql).bind(cutoff).bind(DELETE_BATCH).execute(db.pool()).await?.rows_affected();
        deleted += batch;
        if batch < DELETE_BATCH as u64 {
            return Ok(deleted);
        }
        tokio::time::sleep(DELETE_PAUSE).await;
    }
}

/// Runs until dropped: every [`UPKEEP_EVERY`], from now, creates partitions ahead and,
/// with a retention, removes what is older than it.
pub async fn keep(db: Db, retention_days: Option<u32>) {
    let mut ticker = tokio::time::interval(UPKEEP_EVERY);
    loop {
        ticker.tick().await;
        if let Err(err) = prepare(&db, now_ms()).await {
            tracing::warn!(error = %err, "could not create the usage log's partitions ahead; will retry");
        }
        let Some(days) = retention_days else { continue };
        match expire(&db, now_ms() - i64::from(days) * DAY_MS).await {
            Ok(expired) if expired != Expired::default() => {
                tracing::info!(partitions = ?expired.partitions, rows = expired.rows, "removed usage rows past the retention");
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not remove usage rows past the retention; will retry"),
        }
    }
}
