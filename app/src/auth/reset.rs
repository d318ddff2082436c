//! One-time password reset links: an admin issues one for a user, who opens it and sets a
//! new password without signing in. Only a hash of the link's secret is stored; a link
//! works once, until it expires, and using it signs the user out everywhere.

use super::{session, IssuedResetLink, PasswordReset};
use crate::access::{Actor, Caller};
use crate::audit;
use crate::auth::password;
use crate::clock::{new_id, now_ms};
use crate::error::AppError;
use crate::secrets;
use crate::state::AppState;
use crate::users::{service::validate_password, store as users_store};

const KIND: &str = "tgr";
const VALID_FOR_MS: i64 = 24 * 60 * 60 * 1000;
/// Where the console's reset page is; the link is this path with the token.
pub const PAGE: &str = "/reset-password";

/// `path` on the console's address as the request reached it: the browser's `Origin`
/// (sent with every form post and fetch), else the `Host` it asked for, else `path` alone.
pub fn link_on_request_origin(parts: &axum::http::request::Parts, path: &str) -> String {
    let header = |name| parts.headers.get(name).and_then(|value| value.to_str().ok());
    match (header(axum::http::header::ORIGIN), header(axum::http::header::HOST)) {
        (Some(origin), _) if origin != "null" => format!("{origin}{path}"),
        (_, Some(host)) => format!("http://{host}{path}"),
        _ => path.to_owned(),
    }
}

/// The same answer for a link that is malformed, unknown, used or expired.
fn unusable() -> AppError {
    AppError::invalid("token", "This reset link is unknown, used or expired. Ask an administrator for a new one.")
}

/// Issues a link for user `user_id`; any earlier unused link of theirs stops working.
/// `link` is the bare path here: the caller puts it on the origin it was reached at.
pub async fn issue(state: &AppState, caller: &Caller, user_id: &str) -> Result<IssuedResetLink, AppError> {
    let admin = caller.admin()?;
    let user = users_store::by_id(&state.db, user_id).await?.ok_or_else(|| AppError::not_found("user"))?.view;
    let issued = secrets::issue(KIND);
    let now = now_ms();
    let expires_at = now + VALID_FOR_MS;
    let mut tx = state.db.pool().begin().await?;
    sqlx::query("DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL")
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO password_resets (id, public_id, secret_hash, user_id, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(&issued.public_id)
    .bind(&issued.secret_hash)
    .bind(&user.id)
    .bind(&admin.actor().user_id)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    let after = serde_json::json!({ "email": user.email, "expires_at": expires_at });
    let entry = audit::Entry::new("user.reset_link", "user", &user.id).after(&after);
    audit::record_in(&mut *tx, admin.actor(), entry).await?;
    tx.commit().await?;
    let path = format!("{PAGE}?token={}", issued.full);
    Ok(IssuedResetLink {
        user_id: user.id,
        email: user.email,
        token: issued.full,
        link: path.clone(),
        path,
        expires_at,
    })
}

/// Sets the new password of the link's user, spends the link and ends all their sessions.
pub async fn redeem(state: &AppState, input: &PasswordReset, ip: Option<String>) -> Result<(), AppError> {
    validate_password("new_password", &input.new_password)?;
    let (public_id, secret) = secrets::parse(KIND, input.token.trim()).ok_or_else(unusable)?;
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT secret_hash, user_id FROM password_resets WHERE public_id = $1")
            .bind(public_id)
            .fetch_optional(state.db.pool())
            .await?;
    let (secret_hash, user_id) = row.ok_or_else(unusable)?;
    if !secrets::matches(secret, &secret_hash) {
        return Err(unusable());
    }
    let hash = password::hash(input.new_password.clone()).await?;
    let mut tx = state.db.pool().begin().await?;
    // Spending the link is the condition of the change, so two uses at once cannot both pass.
    let spent = sqlx::query(
        "UPDATE password_resets SET used_at = $1 WHERE public_id = $2 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(now_ms())
    .bind(public_id)
    .execute(&mut *tx)
    .await?;
    if spent.rows_affected() != 1 {
        return Err(unusable());
    }
    users_store::set_password_hash(&mut *tx, &user_id, &hash).await?;
    let actor = Actor { user_id: user_id.clone(), ip };
    audit::record_in(&mut *tx, &actor, audit::Entry::new("user.password_reset", "user", &user_id)).await?;
    tx.commit().await?;
    session::end_others(&state.db, &user_id, None).await
}
