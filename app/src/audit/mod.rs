//! The audit log: every change made through the console or the management API.

use crate::access::Actor;
use crate::clock::{new_id, now_ms};
use crate::error::AppError;
use crate::state::AppState;
use serde::Serialize;

/// One change, described before it is recorded.
#[derive(Debug, Default)]
pub struct Entry {
    action: &'static str,
    target_type: &'static str,
    target_id: String,
    account_id: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

fn to_json(value: &impl Serialize) -> Option<String> {
    serde_json::to_string(value).ok()
}

impl Entry {
    pub fn new(action: &'static str, target_type: &'static str, target_id: &str) -> Self {
        Entry { action, target_type, target_id: target_id.to_owned(), ..Entry::default() }
    }

    pub fn account(mut self, account_id: &str) -> Self {
        self.account_id = Some(account_id.to_owned());
        self
    }

    pub fn before(mut self, value: &impl Serialize) -> Self {
        self.before = to_json(value);
        self
    }

    pub fn after(mut self, value: &impl Serialize) -> Self {
        self.after = to_json(value);
        self
    }
}

pub async fn record(state: &AppState, actor: &Actor, entry: Entry) -> Result<(), AppError> {
    Ok(record_in(state.db.pool(), actor, entry).await?)
}

/// Records inside the caller's transaction, so a change and its audit row commit together.
pub async fn record_in<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    actor: &Actor,
    entry: Entry,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (id, actor_id, action, target_type, target_id, account_id, before, after, ip, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(new_id())
    .bind(&actor.user_id)
    .bind(entry.action)
    .bind(entry.target_type)
    .bind(&entry.target_id)
    .bind(entry.account_id)
    .bind(entry.before)
    .bind(entry.after)
    .bind(&actor.ip)
    .bind(now_ms())
    .execute(executor)
    .await?;
    Ok(())
}
