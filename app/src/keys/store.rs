//! SQL owned by the keys concern.

use super::{KeyPolicy, KeyStatus, KeyView, KEY_KIND};
use crate::clock::now_ms;
use crate::db::{expect_one_row, Db};
use crate::error::AppError;

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    account_id: String,
    user_id: String,
    name: String,
    public_id: String,
    status: String,
    expires_at: Option<i64>,
    ip_allowlist: String,
    model_whitelist: String,
    spend_cap: Option<i64>,
    spent: i64,
    rpm: Option<i64>,
    tpm: Option<i64>,
    max_concurrency: Option<i64>,
    last_used_at: Option<i64>,
    created_at: i64,
}

const KEY_COLUMNS: &str = "k.id, k.account_id, k.user_id, k.name, k.public_id, k.status, k.expires_at,
    k.ip_allowlist, k.model_whitelist, k.spend_cap, k.spent, k.rpm, k.tpm, k.max_concurrency, k.last_used_at, k.created_at";

fn json_list(text: &str) -> Result<Vec<String>, AppError> {
    serde_json::from_str(text).map_err(|_| AppError::internal())
}

/// A list as stored: JSON text (a list of strings always serialises).
fn json_text(list: &[String]) -> String {
    serde_json::Value::from(list).to_string()
}

fn from_row(row: KeyRow) -> Result<KeyView, AppError> {
    Ok(KeyView {
        prefix: format!("{KEY_KIND}-{}", row.public_id),
        status: KeyStatus::parse(&row.status).ok_or_else(AppError::internal)?,
        policy: KeyPolicy {
            expires_at: row.expires_at,
            ip_allowlist: json_list(&row.ip_allowlist)?,
            model_whitelist: json_list(&row.model_whitelist)?,
            spend_cap: row.spend_cap,
            rpm: row.rpm,
            tpm: row.tpm,
            max_concurrency: row.max_concurrency,
        },
        id: row.id,
        account_id: row.account_id,
        user_id: row.user_id,
        name: row.name,
        spent: row.spent,
        last_used_at: row.last_used_at,
        created_at: row.created_at,
    })
}

pub async fn insert(db: &Db, key: &KeyView, public_id: &str, secret_hash: &str) -> Result<(), AppError> {
    let policy = &key.policy;
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, user_id, name, public_id, secret_hash, status, expires_at, ip_allowlist,
           model_whitelist, spend_cap, rpm, tpm, max_concurrency, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
    )
    .bind(&key.id)
    .bind(&key.account_id)
    .bind(&key.user_id)
    .bind(&key.name)
    .bind(public_id)
    .bind(secret_hash)
    .bind(key.status.as_str())
    .bind(policy.expires_at)
    .bind(json_text(&policy.ip_allowlist))
    .bind(json_text(&policy.model_whitelist))
    .bind(policy.spend_cap)
    .bind(policy.rpm)
    .bind(policy.tpm)
    .bind(policy.max_concurrency)
    .bind(key.created_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<KeyView>, AppError> {
    let row: Option<KeyRow> = sqlx::query_as(&format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.map(from_row).transpose()
}

/// Keys of an account, newest first; only `user_id`'s when given.
pub async fn list(db: &Db, account_id: &str, user_id: Option<&str>) -> Result<Vec<KeyView>, AppError> {
    let rows: Vec<KeyRow> = sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.account_id = $1 AND ($2 IS NULL OR k.user_id = $2) ORDER BY k.id DESC"
    ))
    .bind(account_id)
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(from_row).collect()
}

pub async fn update(db: &Db, key: &KeyView) -> Result<(), AppError> {
    let policy = &key.policy;
    // A revoked key stays revoked whatever a concurrent update says.
    let result = sqlx::query(
        "UPDATE api_keys SET name = $1, status = $2, expires_at = $3, ip_allowlist = $4, model_whitelist = $5,
           spend_cap = $6, rpm = $7, tpm = $8, max_concurrency = $9, updated_at = $10
         WHERE id = $11 AND status <> 'revoked'",
    )
    .bind(&key.name)
    .bind(key.status.as_str())
    .bind(policy.expires_at)
    .bind(json_text(&policy.ip_allowlist))
    .bind(json_text(&policy.model_whitelist))
    .bind(policy.spend_cap)
    .bind(policy.rpm)
    .bind(policy.tpm)
    .bind(policy.max_concurrency)
    .bind(now_ms())
    .bind(&key.id)
    .execute(db.pool())
    .await?;
    expect_one_row(result, "key")
}

/// What the gateway keeps in memory for each key.
pub struct GatewayKeyRow {
    pub key: KeyView,
    pub secret_hash: String,
    pub public_id: String,
    /// The account or the owning user is suspended.
    pub suspended: bool,
}

#[derive(sqlx::FromRow)]
struct GatewayRow {
    #[sqlx(flatten)]
    key: KeyRow,
    secret_hash: String,
    account_status: String,
    user_status: String,
}

pub async fn all_for_gateway(db: &Db) -> Result<Vec<GatewayKeyRow>, AppError> {
    let rows: Vec<GatewayRow> = sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS}, k.secret_hash, a.status AS account_status, u.status AS user_status
         FROM api_keys k JOIN accounts a ON a.id = k.account_id JOIN users u ON u.id = k.user_id"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|row| {
            let suspended = row.account_status != "active" || row.user_status != "active";
            let public_id = row.key.public_id.clone();
            Ok(GatewayKeyRow { key: from_row(row.key)?, secret_hash: row.secret_hash, public_id, suspended })
        })
        .collect()
}

/// Records when keys were last used; the gateway batches these.
pub async fn touch_last_used(db: &Db, key_ids: &[String], at: i64) -> Result<(), AppError> {
    for id in key_ids {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2").bind(at).bind(id).execute(db.pool()).await?;
    }
    Ok(())
}
