//! SQL owned by the accounts concern.

use super::{AccountView, MemberView, MembershipRole};
use crate::auth::Membership;
use crate::clock::{new_id, now_ms};
use crate::db::{expect_one_row, is_unique_violation, Db};
use crate::error::AppError;
use crate::users::Status;

type AccountRow = (String, String, String, i64, i64, i64);

const SELECT_ACCOUNT: &str = "SELECT id, name, status, balance, low_balance_threshold, created_at FROM accounts";

fn from_row(
    (id, name, status, balance, low_balance_threshold, created_at): AccountRow,
) -> Result<AccountView, AppError> {
    let status = Status::parse(&status).ok_or_else(AppError::internal)?;
    Ok(AccountView {
        id,
        name,
        status,
        balance: Some(balance),
        low_balance_threshold: Some(low_balance_threshold),
        created_at,
    })
}

fn name_taken(name: &str) -> impl FnOnce(sqlx::Error) -> AppError + '_ {
    move |err| {
        if is_unique_violation(&err) {
            AppError::Conflict(format!("An account named {name} already exists."))
        } else {
            err.into()
        }
    }
}

pub async fn insert(db: &Db, name: &str) -> Result<AccountView, AppError> {
    let now = now_ms();
    let id = new_id();
    sqlx::query(
        "INSERT INTO accounts (id, name, status, balance, low_balance_threshold, created_at, updated_at)
         VALUES ($1, $2, 'active', 0, 0, $3, $3)",
    )
    .bind(&id)
    .bind(name)
    .bind(now)
    .execute(db.pool())
    .await
    .map_err(name_taken(name))?;
    Ok(AccountView {
        id,
        name: name.to_owned(),
        status: Status::Active,
        balance: Some(0),
        low_balance_threshold: Some(0),
        created_at: now,
    })
}

pub async fn exists(db: &Db, id: &str) -> Result<bool, AppError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM accounts WHERE id = $1").bind(id).fetch_optional(db.pool()).await?;
    Ok(found.is_some())
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<AccountView>, AppError> {
    let row: Option<AccountRow> =
        sqlx::query_as(&format!("{SELECT_ACCOUNT} WHERE id = $1")).bind(id).fetch_optional(db.pool()).await?;
    row.map(from_row).transpose()
}

pub async fn by_name(db: &Db, name: &str) -> Result<Option<AccountView>, AppError> {
    let row: Option<AccountRow> =
        sqlx::query_as(&format!("{SELECT_ACCOUNT} WHERE name = $1")).bind(name).fetch_optional(db.pool()).await?;
    row.map(from_row).transpose()
}

pub async fn list_all(db: &Db) -> Result<Vec<AccountView>, AppError> {
    let rows: Vec<AccountRow> = sqlx::query_as(&format!("{SELECT_ACCOUNT} ORDER BY name")).fetch_all(db.pool()).await?;
    rows.into_iter().map(from_row).collect()
}

pub async fn list_of_user(db: &Db, user_id: &str) -> Result<Vec<AccountView>, AppError> {
    let rows: Vec<AccountRow> = sqlx::query_as(&format!(
        "{SELECT_ACCOUNT} WHERE id IN (SELECT account_id FROM memberships WHERE user_id = $1) ORDER BY name"
    ))
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// Writes the account's settings; a threshold left out of the view stays as it is.
pub async fn update(db: &Db, account: &AccountView) -> Result<(), AppError> {
    let result = sqlx::query(
        "UPDATE accounts SET status = $1, low_balance_threshold = COALESCE($2, low_balance_threshold), updated_at = $3
         WHERE id = $4",
    )
    .bind(account.status.as_str())
    .bind(account.low_balance_threshold)
    .bind(now_ms())
    .bind(&account.id)
    .execute(db.pool())
    .await?;
    expect_one_row(result, "account")
}

pub async fn membership(db: &Db, account_id: &str, user_id: &str) -> Result<Option<MembershipRole>, AppError> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM memberships WHERE account_id = $1 AND user_id = $2")
            .bind(account_id)
            .bind(user_id)
            .fetch_optional(db.pool())
            .await?;
    role.map(|role| MembershipRole::parse(&role).ok_or_else(AppError::internal)).transpose()
}

pub async fn memberships_of(db: &Db, user_id: &str) -> Result<Vec<Membership>, AppError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT a.id, a.name, m.role FROM memberships m JOIN accounts a ON a.id = m.account_id
         WHERE m.user_id = $1 ORDER BY a.name",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|(account_id, account_name, role)| {
            let role = MembershipRole::parse(&role).ok_or_else(AppError::internal)?;
            Ok(Membership { account_id, account_name, role })
        })
        .collect()
}

pub async fn members(db: &Db, account_id: &str) -> Result<Vec<MemberView>, AppError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT u.id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.account_id = $1 ORDER BY u.email",
    )
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|(user_id, email, role)| {
            let role = MembershipRole::parse(&role).ok_or_else(AppError::internal)?;
            Ok(MemberView { user_id, email, role })
        })
        .collect()
}

/// Adds the user to the account, or changes their role if they are in it already.
pub async fn upsert_member(db: &Db, account_id: &str, user_id: &str, role: MembershipRole) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO memberships (account_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (account_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(account_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn delete_member(db: &Db, account_id: &str, user_id: &str) -> Result<(), AppError> {
    let result = sqlx::query("DELETE FROM memberships WHERE account_id = $1 AND user_id = $2")
        .bind(account_id)
        .bind(user_id)
        .execute(db.pool())
        .await?;
    expect_one_row(result, "member")
}

pub async fn owner_count(db: &Db, account_id: &str) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE account_id = $1 AND role = 'owner'")
        .bind(account_id)
        .fetch_one(db.pool())
        .await?)
}
