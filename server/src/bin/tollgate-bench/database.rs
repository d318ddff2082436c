//! The databases Tollgate runs on, one per Tollgate the run starts: a SQLite file in its
//! data directory, or a PostgreSQL database created for the run and dropped after it.

use crate::error::BenchError;
use sqlx::{Connection, Executor, PgConnection};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Every database of a run, removed together when the run ends (whether it failed or not).
pub struct Databases {
    backend: Backend,
    postgres_admin_url: String,
    created: Vec<Database>,
}

impl Databases {
    pub fn new(backend: Backend, postgres_admin_url: &str) -> Databases {
        Databases { backend, postgres_admin_url: postgres_admin_url.to_owned(), created: Vec::new() }
    }

    /// A fresh database for the Tollgate whose data directory is `dir`; its URL.
    pub async fn create(&mut self, dir: &Path) -> Result<String, BenchError> {
        let database = Database::create(self.backend, &self.postgres_admin_url, dir).await?;
        let url = database.url.clone();
        self.created.push(database);
        Ok(url)
    }

    /// Removes them all, the rest even when one fails; the first failure.
    pub async fn remove(self) -> Result<(), BenchError> {
        let mut outcome = Ok(());
        for database in self.created {
            let removed = database.remove().await;
            outcome = outcome.and(removed);
        }
        outcome
    }
}

struct Database {
    url: String,
    /// The server URL and database name to drop at the end, for PostgreSQL.
    postgres: Option<(String, String)>,
}

impl Database {
    async fn create(backend: Backend, postgres_admin_url: &str, dir: &Path) -> Result<Database, BenchError> {
        match backend {
            Backend::Sqlite => {
                Ok(Database { url: format!("sqlite://{}", dir.join("tollgate.db").display()), postgres: None })
            }
            Backend::Postgres => {
                let name = format!("tollgate_bench_{}", uuid::Uuid::now_v7().simple());
                let mut conn = PgConnection::connect(postgres_admin_url).await?;
                conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str()).await?;
                let server = postgres_admin_url.rsplit_once('/').map_or(postgres_admin_url, |(server, _)| server);
                let url = format!("{server}/{name}");
                Ok(Database { url, postgres: Some((postgres_admin_url.to_owned(), name)) })
            }
        }
    }

    /// Drops the PostgreSQL database (with any connection left); SQLite goes with its directory.
    async fn remove(self) -> Result<(), BenchError> {
        let Some((admin_url, name)) = self.postgres else { return Ok(()) };
        let mut conn = PgConnection::connect(&admin_url).await?;
        conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str()).await?;
        Ok(())
    }
}
