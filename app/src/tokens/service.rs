//! Issuing, listing, revoking and checking management tokens (SQL included: it is small).

use super::{IssuedToken, NewToken, TokenView};
use crate::access::{Caller, Deferred};
use crate::audit;
use crate::clock::{new_id, now_ms};
use crate::db::expect_one_row;
use crate::error::AppError;
use crate::secrets;
use crate::state::AppState;

const KIND: &str = "tgm";

type TokenRow = (String, String, String, String, String, i64, Option<i64>, Option<i64>);

fn from_row(
    (id, name, public_id, created_by, created_by_email, created_at, last_used_at, revoked_at): TokenRow,
) -> TokenView {
    let prefix = format!("{KIND}-{public_id}");
    TokenView { id, name, prefix, created_by, created_by_email, created_at, last_used_at, revoked_at }
}

pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<TokenView>, AppError> {
    caller.admin()?;
    let rows: Vec<TokenRow> = sqlx::query_as(
        "SELECT t.id, t.name, t.public_id, t.created_by, u.email, t.created_at, t.last_used_at, t.revoked_at
         FROM management_tokens t JOIN users u ON u.id = t.created_by ORDER BY t.id DESC",
    )
    .fetch_all(state.db.pool())
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

pub async fn create(state: &AppState, caller: &Caller, input: Deferred<NewToken>) -> Result<IssuedToken, AppError> {
    let admin = caller.admin()?;
    let input = input.await?;
    let name = input.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(AppError::invalid("name", "The name must have 1 to 100 characters."));
    }
    let issued = secrets::issue(KIND);
    let row: TokenRow = (
        new_id(),
        name.to_owned(),
        issued.public_id,
        admin.actor().user_id.clone(),
        caller.user.email.clone(),
        now_ms(),
        None,
        None,
    );
    sqlx::query(
        "INSERT INTO management_tokens (id, name, public_id, secret_hash, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.0)
    .bind(&row.1)
    .bind(&row.2)
    .bind(&issued.secret_hash)
    .bind(&row.3)
    .bind(row.5)
    .execute(state.db.pool())
    .await?;
    let view = from_row(row);
    audit::record(state, admin.actor(), audit::Entry::new("token.create", "token", &view.id).after(&view)).await?;
    Ok(IssuedToken { view, token: issued.full })
}

pub async fn revoke(state: &AppState, caller: &Caller, id: &str) -> Result<(), AppError> {
    let admin = caller.admin()?;
    let result = sqlx::query("UPDATE management_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(state.db.pool())
        .await?;
    expect_one_row(result, "token")?;
    audit::record(state, admin.actor(), audit::Entry::new("token.revoke", "token", id)).await
}

/// The user a presented token acts for; any malformed, unknown or revoked token is refused alike.
pub async fn authenticate(state: &AppState, presented: &str) -> Result<String, AppError> {
    let (public_id, secret) = secrets::parse(KIND, presented).ok_or(AppError::InvalidToken)?;
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT id, secret_hash, created_by FROM management_tokens WHERE public_id = $1 AND revoked_at IS NULL",
    )
    .bind(public_id)
    .fetch_optional(state.db.pool())
    .await?;
    let (id, secret_hash, user_id) = row.ok_or(AppError::InvalidToken)?;
    if !secrets::matches(secret, &secret_hash) {
        return Err(AppError::InvalidToken);
    }
    sqlx::query("UPDATE management_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(&id)
        .execute(state.db.pool())
        .await?;
    Ok(user_id)
}
