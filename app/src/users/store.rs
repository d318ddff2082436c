//! SQL owned by the users concern.

use super::{PlatformRole, Status, UserView};
use crate::clock::{new_id, now_ms};
use crate::db::{expect_one_row, is_unique_violation, Db};
use crate::error::AppError;

/// A user row, with the password hash that never leaves the server.
#[derive(Clone)]
pub struct UserRecord {
    pub view: UserView,
    pub password_hash: String,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord").field("view", &self.view).field("password_hash", &"[redacted]").finish()
    }
}

type UserRow = (String, String, String, String, i64, String);

const SELECT_USER: &str = "SELECT id, email, role, status, created_at, password_hash FROM users";

fn from_row((id, email, role, status, created_at, password_hash): UserRow) -> Result<UserRecord, AppError> {
    let role = PlatformRole::parse(&role).ok_or_else(AppError::internal)?;
    let status = Status::parse(&status).ok_or_else(AppError::internal)?;
    Ok(UserRecord { view: UserView { id, email, role, status, created_at }, password_hash })
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub async fn insert(db: &Db, email: &str, password_hash: &str, role: PlatformRole) -> Result<UserView, AppError> {
    let now = now_ms();
    let view = UserView { id: new_id(), email: normalize_email(email), role, status: Status::Active, created_at: now };
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, role, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&view.id)
    .bind(&view.email)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(view.status.as_str())
    .bind(now)
    .execute(db.pool())
    .await
    .map_err(|err| {
        if is_unique_violation(&err) {
            AppError::Conflict(format!("A user with email {} already exists.", view.email))
        } else {
            err.into()
        }
    })?;
    Ok(view)
}

pub async fn by_email(db: &Db, email: &str) -> Result<Option<UserRecord>, AppError> {
    let row: Option<UserRow> = sqlx::query_as(&format!("{SELECT_USER} WHERE email = $1"))
        .bind(normalize_email(email))
        .fetch_optional(db.pool())
        .await?;
    row.map(from_row).transpose()
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<UserRecord>, AppError> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("{SELECT_USER} WHERE id = $1")).bind(id).fetch_optional(db.pool()).await?;
    row.map(from_row).transpose()
}

pub async fn list(db: &Db) -> Result<Vec<UserView>, AppError> {
    let rows: Vec<UserRow> = sqlx::query_as(&format!("{SELECT_USER} ORDER BY email")).fetch_all(db.pool()).await?;
    rows.into_iter().map(|row| from_row(row).map(|record| record.view)).collect()
}

pub async fn update(db: &Db, id: &str, role: PlatformRole, status: Status) -> Result<(), AppError> {
    let result = sqlx::query("UPDATE users SET role = $1, status = $2, updated_at = $3 WHERE id = $4")
        .bind(role.as_str())
        .bind(status.as_str())
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?;
    expect_one_row(result, "user")
}

pub async fn active_admin_exists(db: &Db) -> Result<bool, AppError> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND status = 'active'")
        .fetch_one(db.pool())
        .await?;
    Ok(count > 0)
}

/// Inside the caller's transaction where it has one (a reset link is spent with it).
pub async fn set_password_hash<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    id: &str,
    password_hash: &str,
) -> Result<(), AppError> {
    let result = sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(now_ms())
        .bind(id)
        .execute(executor)
        .await?;
    expect_one_row(result, "user")
}
