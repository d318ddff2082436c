//! The database Tollgate runs on: a SQLite file in the run's directory, or a PostgreSQL
//! database created for the run and dropped after it.

use crate::error::BenchError;
use sqlx::{Connection, Executor, PgConnection};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Database {
    pub url: String,
    /// The server URL and database name to drop at the end, for PostgreSQL.
    postgres: Option<(String, String)>,
}

impl Database {
    pub async fn create(backend: Backend, postgres_admin_url: &str, dir: &Path) -> Result<Database, BenchError> {
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
    pub async fn remove(self) -> Result<(), BenchError> {
        let Some((admin_url, name)) = self.postgres else { return Ok(()) };
        let mut conn = PgConnection::connect(&admin_url).await?;
        conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str()).await?;
        Ok(())
    }
}
