//! SQL owned by the model catalog.

use crate::clock::{new_id, now_ms};
use crate::db::Db;
use crate::error::AppError;

pub const DEMO_MODEL: &str = "echo-1";
const DEMO_CHANNEL: &str = "demo-echo";

/// Seeds the built-in `echo` channel serving model `echo-1`, unless it exists already.
pub async fn ensure_demo_echo(db: &Db) -> Result<(), AppError> {
    let now = now_ms();
    let channel_id = new_id();
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO channels (id, name, protocol, base_url, priority, weight, status, timeout_ms, created_at, updated_at)
         VALUES ($1, $2, 'echo', '', 0, 1, 'enabled', 60000, $3, $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(&channel_id)
    .bind(DEMO_CHANNEL)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO models (code, name, status, input_price, output_price, context_window, default_max_tokens, created_at, updated_at)
         VALUES ($1, 'Echo (demo)', 'active', 500000, 1500000, 8192, 1024, $2, $2) ON CONFLICT (code) DO NOTHING",
    )
    .bind(DEMO_MODEL)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO model_channels (model_code, channel_id)
         SELECT $1, id FROM channels WHERE name = $2 ON CONFLICT (model_code, channel_id) DO NOTHING",
    )
    .bind(DEMO_MODEL)
    .bind(DEMO_CHANNEL)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
