//! SQL owned by instances: their registrations and heartbeats.

use crate::db::Db;

/// Another instance whose heartbeat is fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub instance_id: String,
    pub heartbeat_at: i64,
}

/// A run of an instance, as registered.
pub struct NewRun<'a> {
    pub instance_id: &'a str,
    pub run_id: &'a str,
    pub address: &'a str,
    pub version: &'a str,
    pub now: i64,
}

/// Registers a run. `take_over` (at start) replaces the row of the instance's previous
/// run; otherwise the run registers only when the instance has no row (it was presumed
/// dead), so it never displaces another process that uses the same id. Returns whether
/// the row is now this run's.
pub async fn register(db: &Db, run: &NewRun<'_>, take_over: bool) -> Result<bool, sqlx::Error> {
    let on_conflict = if take_over {
        "DO UPDATE SET run_id = excluded.run_id, started_at = excluded.started_at,
             heartbeat_at = excluded.heartbeat_at, address = excluded.address, version = excluded.version"
    } else {
        "DO NOTHING"
    };
    let registered = sqlx::query(&format!(
        "INSERT INTO instances (instance_id, run_id, started_at, heartbeat_at, address, version)
         VALUES ($1, $2, $3, $3, $4, $5) ON CONFLICT (instance_id) {on_conflict}"
    ))
    .bind(run.instance_id)
    .bind(run.run_id)
    .bind(run.now)
    .bind(run.address)
    .bind(run.version)
    .execute(db.pool())
    .await?;
    Ok(registered.rows_affected() == 1)
}

/// Records that the run is alive; false when its row is gone (it was presumed dead).
pub async fn heartbeat(db: &Db, run_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let beat = sqlx::query("UPDATE instances SET heartbeat_at = $1 WHERE run_id = $2")
        .bind(now)
        .bind(run_id)
        .execute(db.pool())
        .await?;
    Ok(beat.rows_affected() == 1)
}

/// Deletes the rows of instances whose last heartbeat is older than `stale_before`: from
/// then on their leases belong to no registered run. Returns who they were.
pub async fn forget_stale(db: &Db, stale_before: i64) -> Result<Vec<Peer>, sqlx::Error> {
    let forgotten: Vec<(String, i64)> =
        sqlx::query_as("DELETE FROM instances WHERE heartbeat_at < $1 RETURNING instance_id, heartbeat_at")
            .bind(stale_before)
            .fetch_all(db.pool())
            .await?;
    Ok(forgotten.into_iter().map(|(instance_id, heartbeat_at)| Peer { instance_id, heartbeat_at }).collect())
}

/// The instances other than `instance_id` heartbeating since `fresh_since`, most recent first.
pub async fn peers(db: &Db, instance_id: &str, fresh_since: i64) -> Result<Vec<Peer>, sqlx::Error> {
    let peers: Vec<(String, i64)> = sqlx::query_as(
        "SELECT instance_id, heartbeat_at FROM instances WHERE heartbeat_at >= $1 AND instance_id <> $2
         ORDER BY heartbeat_at DESC",
    )
    .bind(fresh_since)
    .bind(instance_id)
    .fetch_all(db.pool())
    .await?;
    Ok(peers.into_iter().map(|(instance_id, heartbeat_at)| Peer { instance_id, heartbeat_at }).collect())
}

/// How many instances have heartbeat since `fresh_since`.
pub async fn count_live(db: &Db, fresh_since: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE heartbeat_at >= $1")
        .bind(fresh_since)
        .fetch_one(db.pool())
        .await
}

/// Ends the run's registration.
pub async fn leave(db: &Db, run_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM instances WHERE run_id = $1").bind(run_id).execute(db.pool()).await.map(drop)
}
