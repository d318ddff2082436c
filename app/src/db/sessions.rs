//! tower-sessions storage in our own `sessions` table, on either backend.
//!
//! The table keys each session by a SHA-256 of its id, never the id itself: the id is
//! the bearer secret in the cookie, so someone who reads the table (a backup, a replica,
//! a leaked dump) must not be able to sign in as anyone from it.

use crate::db::{Backend, Db};
use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion};

#[derive(Clone)]
pub struct SessionStore {
    db: Db,
}

impl SessionStore {
    pub fn new(db: Db) -> Self {
        SessionStore { db }
    }

    /// Deletes every session whose data holds the text `value` under `key` (every session
    /// of one user, say).
    pub async fn delete_holding(&self, key: &str, value: &str) -> Result<(), sqlx::Error> {
        let held = match self.db.backend() {
            Backend::Sqlite => "json_extract(data, '$.' || $1)",
            Backend::Postgres => "(data::json ->> $1::text)",
        };
        sqlx::query(&format!("DELETE FROM sessions WHERE {held} = $2"))
            .bind(key)
            .bind(value)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Whether a live (unexpired) session has this id, without loading it.
    pub async fn holds(&self, id: &Id) -> session_store::Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM sessions WHERE id = $1 AND expiry_date > $2")
            .bind(stored_id(id))
            .bind(crate::clock::now_ms())
            .fetch_optional(self.db.pool())
            .await
            .map_err(backend_error)?;
        Ok(found.is_some())
    }
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionStore")
    }
}

fn backend_error(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

/// What the table stores for a session id.
fn stored_id(id: &Id) -> String {
    crate::secrets::hash(&id.to_string())
}

fn expiry_ms(record: &Record) -> i64 {
    (record.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64
}

#[async_trait]
impl session_store::SessionStore for SessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh random id colliding with a live one is astronomically unlikely, but the
        // contract of `create` is to never overwrite: retry with a new id if it happens.
        loop {
            let data = serde_json::to_string(&record.data).map_err(backend_error)?;
            let inserted = sqlx::query(
                "INSERT INTO sessions (id, data, expiry_date) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(stored_id(&record.id))
            .bind(data)
            .bind(expiry_ms(record))
            .execute(self.db.pool())
            .await
            .map_err(backend_error)?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data).map_err(backend_error)?;
        sqlx::query(
            "INSERT INTO sessions (id, data, expiry_date) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, expiry_date = excluded.expiry_date",
        )
        .bind(stored_id(&record.id))
        .bind(data)
        .bind(expiry_ms(record))
        .execute(self.db.pool())
        .await
        .map_err(backend_error)?;
        Ok(())
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT data, expiry_date FROM sessions WHERE id = $1 AND expiry_date > $2")
                .bind(stored_id(session_id))
                .bind(crate::clock::now_ms())
                .fetch_optional(self.db.pool())
                .await
                .map_err(backend_error)?;
        let Some((data, expiry)) = row else {
            return Ok(None);
        };
        let expiry_date =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(expiry) * 1_000_000).map_err(backend_error)?;
        Ok(Some(Record { id: *session_id, data: serde_json::from_str(&data).map_err(backend_error)?, expiry_date }))
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(stored_id(session_id))
            .execute(self.db.pool())
            .await
            .map_err(backend_error)?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for SessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE expiry_date <= $1")
            .bind(crate::clock::now_ms())
            .execute(self.db.pool())
            .await
            .map_err(backend_error)?;
        Ok(())
    }
}
