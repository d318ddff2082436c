//! What the console keeps in a session: the signed-in user and the chosen account.

use crate::db::{Db, SessionStore};
use crate::error::AppError;
use tower_sessions::Session;

const USER_ID: &str = "user_id";
const CURRENT_ACCOUNT: &str = "current_account";

fn session_error(err: tower_sessions::session::Error) -> AppError {
    tracing::error!(error = %err, "session store error");
    AppError::internal()
}

/// Starts a signed-in session under a new id, so an id planted before sign-in is useless.
pub async fn sign_in(session: &Session, user_id: &str) -> Result<(), AppError> {
    session.cycle_id().await.map_err(session_error)?;
    session.clear().await;
    session.insert(USER_ID, user_id).await.map_err(session_error)
}

pub async fn sign_out(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(session_error)
}

pub async fn signed_in_user(session: &Session) -> Result<Option<String>, AppError> {
    session.get(USER_ID).await.map_err(session_error)
}

pub async fn current_account(session: &Session) -> Result<Option<String>, AppError> {
    session.get(CURRENT_ACCOUNT).await.map_err(session_error)
}

pub async fn set_current_account(session: &Session, account_id: &str) -> Result<(), AppError> {
    session.insert(CURRENT_ACCOUNT, account_id).await.map_err(session_error)
}

/// Signs `user_id` out of every session but `current`, when that is theirs: it carries on
/// under a new id. For a changed password, whose old sessions may be someone else's.
pub async fn end_others(db: &Db, user_id: &str, current: Option<&Session>) -> Result<(), AppError> {
    SessionStore::new(db.clone()).delete_holding(USER_ID, user_id).await?;
    if let Some(session) = current {
        if signed_in_user(session).await?.as_deref() == Some(user_id) {
            session.cycle_id().await.map_err(session_error)?;
        }
    }
    Ok(())
}
