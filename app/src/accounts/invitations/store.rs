//! SQL owned by invitations.

use super::InvitationView;
use crate::accounts::MembershipRole;
use crate::clock::now_ms;
use crate::db::{expect_one_row, Db};
use crate::error::AppError;

type InvitationRow = (String, String, String, String, String, String, i64, i64);

const SELECT_INVITATION: &str =
    "SELECT i.id, i.account_id, a.name, i.email, i.role, u.email, i.created_at, i.expires_at
     FROM invitations i JOIN accounts a ON a.id = i.account_id JOIN users u ON u.id = i.invited_by";

fn from_row(
    (id, account_id, account_name, email, role, invited_by_email, created_at, expires_at): InvitationRow,
) -> Result<InvitationView, AppError> {
    let role = MembershipRole::parse(&role).ok_or_else(AppError::internal)?;
    Ok(InvitationView { id, account_id, account_name, email, role, invited_by_email, created_at, expires_at })
}

/// The invitation to `email` into the account, new or replacing an earlier one (which
/// then no longer works: it gets this one's new id).
pub struct Invite<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub email: &'a str,
    pub role: MembershipRole,
    pub invited_by: &'a str,
    pub expires_at: i64,
}

pub async fn upsert(db: &Db, invite: &Invite<'_>) -> Result<InvitationView, AppError> {
    let now = now_ms();
    // Lapsed invitations of the account go when a new one comes, so they do not pile up.
    sqlx::query("DELETE FROM invitations WHERE account_id = $1 AND expires_at <= $2")
        .bind(invite.account_id)
        .bind(now)
        .execute(db.pool())
        .await?;
    sqlx::query(
        "INSERT INTO invitations (id, account_id, email, role, invited_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (account_id, email) DO UPDATE SET id = excluded.id, role = excluded.role,
           invited_by = excluded.invited_by, created_at = excluded.created_at, expires_at = excluded.expires_at",
    )
    .bind(invite.id)
    .bind(invite.account_id)
    .bind(invite.email)
    .bind(invite.role.as_str())
    .bind(invite.invited_by)
    .bind(now)
    .bind(invite.expires_at)
    .execute(db.pool())
    .await?;
    let row: InvitationRow =
        sqlx::query_as(&format!("{SELECT_INVITATION} WHERE i.id = $1")).bind(invite.id).fetch_one(db.pool()).await?;
    from_row(row)
}

/// The pending invitations of an account, oldest first.
pub async fn of_account(db: &Db, account_id: &str) -> Result<Vec<InvitationView>, AppError> {
    let rows: Vec<InvitationRow> =
        sqlx::query_as(&format!("{SELECT_INVITATION} WHERE i.account_id = $1 AND i.expires_at > $2 ORDER BY i.id"))
            .bind(account_id)
            .bind(now_ms())
            .fetch_all(db.pool())
            .await?;
    rows.into_iter().map(from_row).collect()
}

/// The pending invitations to an email, oldest first.
pub async fn to_email(db: &Db, email: &str) -> Result<Vec<InvitationView>, AppError> {
    let rows: Vec<InvitationRow> =
        sqlx::query_as(&format!("{SELECT_INVITATION} WHERE i.email = $1 AND i.expires_at > $2 ORDER BY i.id"))
            .bind(email)
            .bind(now_ms())
            .fetch_all(db.pool())
            .await?;
    rows.into_iter().map(from_row).collect()
}

/// The pending invitation `id` to `email`, if there is one.
pub async fn pending_to(db: &Db, id: &str, email: &str) -> Result<Option<InvitationView>, AppError> {
    let row: Option<InvitationRow> =
        sqlx::query_as(&format!("{SELECT_INVITATION} WHERE i.id = $1 AND i.email = $2 AND i.expires_at > $3"))
            .bind(id)
            .bind(email)
            .bind(now_ms())
            .fetch_optional(db.pool())
            .await?;
    row.map(from_row).transpose()
}

/// Deletes invitation `id` to `email` while it is pending: an answer is given once.
pub async fn take_pending(db: &Db, id: &str, email: &str) -> Result<(), AppError> {
    let result = sqlx::query("DELETE FROM invitations WHERE id = $1 AND email = $2 AND expires_at > $3")
        .bind(id)
        .bind(email)
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    expect_one_row(result, "invitation")
}

/// Deletes invitation `id` of the account; returns whom it invited, for the audit log.
pub async fn delete_of_account(db: &Db, account_id: &str, id: &str) -> Result<(String, String), AppError> {
    let deleted: Option<(String, String)> =
        sqlx::query_as("DELETE FROM invitations WHERE id = $1 AND account_id = $2 RETURNING email, role")
            .bind(id)
            .bind(account_id)
            .fetch_optional(db.pool())
            .await?;
    deleted.ok_or_else(|| AppError::not_found("invitation"))
}
