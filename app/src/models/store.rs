//! SQL owned by the model catalog: models, channels and which channel serves which model.

use super::{ChannelView, ModelChannel, ModelStatus, ModelView, Protocol};
use crate::clock::{new_id, now_ms};
use crate::db::{expect_one_row, is_unique_violation, Db};
use crate::error::AppError;
use sqlx::{Any, Transaction};

pub const DEMO_MODEL: &str = "echo-1";
const DEMO_CHANNEL: &str = "demo-echo";

type ModelRow = (String, String, String, i64, i64, Option<i64>, Option<i64>, i64, i64);
type ChannelRow = (String, String, String, String, Option<String>, i64, i64, String, i64);

const SELECT_MODEL: &str = "SELECT code, name, status, input_price, output_price, cache_read_price, cache_write_price,
    context_window, default_max_tokens FROM models";
const SELECT_CHANNEL: &str =
    "SELECT id, name, protocol, base_url, credential, priority, weight, status, timeout_ms FROM channels";

/// A channel row with its sealed credential (decrypted only by the gateway).
pub struct ChannelRecord {
    pub view: ChannelView,
    pub sealed_credential: Option<String>,
}

fn model_from_row(row: ModelRow, channels: Vec<ModelChannel>) -> Result<ModelView, AppError> {
    let (
        code,
        name,
        status,
        input_price,
        output_price,
        cache_read_price,
        cache_write_price,
        context_window,
        default_max_tokens,
    ) = row;
    let status = ModelStatus::parse(&status).ok_or_else(AppError::internal)?;
    Ok(ModelView {
        code,
        name,
        status,
        input_price,
        output_price,
        cache_read_price,
        cache_write_price,
        context_window,
        default_max_tokens,
        channels,
    })
}

fn channel_from_row(row: ChannelRow, models: Vec<String>) -> Result<ChannelRecord, AppError> {
    let (id, name, protocol, base_url, credential, priority, weight, status, timeout_ms) = row;
    let protocol = Protocol::parse(&protocol).ok_or_else(AppError::internal)?;
    let view = ChannelView {
        id,
        name,
        protocol,
        base_url,
        has_credential: credential.is_some(),
        models,
        priority,
        weight,
        enabled: status == "enabled",
        timeout_ms,
    };
    Ok(ChannelRecord { view, sealed_credential: credential })
}

async fn links(db: &Db) -> Result<Vec<(String, String, Option<String>)>, AppError> {
    Ok(sqlx::query_as(
        "SELECT model_code, channel_id, upstream_model FROM model_channels ORDER BY model_code, channel_id",
    )
    .fetch_all(db.pool())
    .await?)
}

pub async fn models(db: &Db) -> Result<Vec<ModelView>, AppError> {
    let rows: Vec<ModelRow> = sqlx::query_as(&format!("{SELECT_MODEL} ORDER BY code")).fetch_all(db.pool()).await?;
    let links = links(db).await?;
    rows.into_iter()
        .map(|row| {
            let channels = links
                .iter()
                .filter(|(model, ..)| *model == row.0)
                .map(|(_, channel_id, upstream_model)| ModelChannel {
                    channel_id: channel_id.clone(),
                    upstream_model: upstream_model.clone(),
                })
                .collect();
            model_from_row(row, channels)
        })
        .collect()
}

pub async fn model(db: &Db, code: &str) -> Result<Option<ModelView>, AppError> {
    Ok(models(db).await?.into_iter().find(|model| model.code == code))
}

pub async fn channels(db: &Db) -> Result<Vec<ChannelRecord>, AppError> {
    let rows: Vec<ChannelRow> = sqlx::query_as(&format!("{SELECT_CHANNEL} ORDER BY name")).fetch_all(db.pool()).await?;
    let links = links(db).await?;
    rows.into_iter()
        .map(|row| {
            let models =
                links.iter().filter(|(_, channel, _)| *channel == row.0).map(|(model, ..)| model.clone()).collect();
            channel_from_row(row, models)
        })
        .collect()
}

pub async fn channel(db: &Db, id: &str) -> Result<Option<ChannelRecord>, AppError> {
    Ok(channels(db).await?.into_iter().find(|channel| channel.view.id == id))
}

fn conflict(what: &'static str) -> impl Fn(sqlx::Error) -> AppError {
    move |err| {
        if is_unique_violation(&err) {
            AppError::Conflict(format!("A {what} with that name already exists."))
        } else {
            err.into()
        }
    }
}

pub async fn insert_model(db: &Db, model: &ModelView) -> Result<(), AppError> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO models (code, name, status, input_price, output_price, cache_read_price, cache_write_price,
           context_window, default_max_tokens, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(&model.code)
    .bind(&model.name)
    .bind(model.status.as_str())
    .bind(model.input_price)
    .bind(model.output_price)
    .bind(model.cache_read_price)
    .bind(model.cache_write_price)
    .bind(model.context_window)
    .bind(model.default_max_tokens)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(conflict("model"))?;
    replace_model_links(&mut tx, &model.code, &model.channels).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn update_model(db: &Db, model: &ModelView) -> Result<(), AppError> {
    let mut tx = db.pool().begin().await?;
    let result = sqlx::query(
        "UPDATE models SET name = $1, status = $2, input_price = $3, output_price = $4, cache_read_price = $5,
         cache_write_price = $6, context_window = $7, default_max_tokens = $8, updated_at = $9 WHERE code = $10",
    )
    .bind(&model.name)
    .bind(model.status.as_str())
    .bind(model.input_price)
    .bind(model.output_price)
    .bind(model.cache_read_price)
    .bind(model.cache_write_price)
    .bind(model.context_window)
    .bind(model.default_max_tokens)
    .bind(now_ms())
    .bind(&model.code)
    .execute(&mut *tx)
    .await?;
    expect_one_row(result, "model")?;
    replace_model_links(&mut tx, &model.code, &model.channels).await?;
    tx.commit().await?;
    Ok(())
}

async fn replace_model_links(
    tx: &mut Transaction<'static, Any>,
    code: &str,
    channels: &[ModelChannel],
) -> Result<(), AppError> {
    sqlx::query("DELETE FROM model_channels WHERE model_code = $1").bind(code).execute(&mut **tx).await?;
    for link in channels {
        sqlx::query("INSERT INTO model_channels (model_code, channel_id, upstream_model) VALUES ($1, $2, $3)")
            .bind(code)
            .bind(&link.channel_id)
            .bind(&link.upstream_model)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Inserts or updates a channel; `models` replaces the models it serves when given
/// (a model it keeps serving keeps its upstream name).
pub async fn save_channel(
    db: &Db,
    channel: &ChannelView,
    sealed_credential: Option<&str>,
    models: Option<&[String]>,
) -> Result<(), AppError> {
    let now = now_ms();
    let status = if channel.enabled { "enabled" } else { "disabled" };
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO channels (id, name, protocol, base_url, credential, priority, weight, status, timeout_ms, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, protocol = excluded.protocol, base_url = excluded.base_url,
           credential = COALESCE(excluded.credential, channels.credential), priority = excluded.priority,
           weight = excluded.weight, status = excluded.status, timeout_ms = excluded.timeout_ms, updated_at = excluded.updated_at",
    )
    .bind(&channel.id)
    .bind(&channel.name)
    .bind(channel.protocol.as_str())
    .bind(&channel.base_url)
    .bind(sealed_credential)
    .bind(channel.priority)
    .bind(channel.weight)
    .bind(status)
    .bind(channel.timeout_ms)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(conflict("channel"))?;
    if let Some(models) = models {
        let served: Vec<(String,)> = sqlx::query_as("SELECT model_code FROM model_channels WHERE channel_id = $1")
            .bind(&channel.id)
            .fetch_all(&mut *tx)
            .await?;
        for (code,) in served.iter().filter(|(code,)| !models.contains(code)) {
            sqlx::query("DELETE FROM model_channels WHERE model_code = $1 AND channel_id = $2")
                .bind(code)
                .bind(&channel.id)
                .execute(&mut *tx)
                .await?;
        }
        for code in models {
            sqlx::query(
                "INSERT INTO model_channels (model_code, channel_id) VALUES ($1, $2)
                 ON CONFLICT (model_code, channel_id) DO NOTHING",
            )
            .bind(code)
            .bind(&channel.id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Seeds the built-in `echo` channel serving model `echo-1`, unless it exists already.
/// The demo model sets no cache prices: echo has no cache.
pub async fn ensure_demo_echo(db: &Db) -> Result<(), AppError> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO channels (id, name, protocol, base_url, priority, weight, status, timeout_ms, created_at, updated_at)
         VALUES ($1, $2, 'echo', '', 0, 1, 'enabled', 60000, $3, $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(new_id())
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
