//! The database handle: one pool over SQLite (embedded default) or PostgreSQL.
//!
//! Queries are written once in portable SQL (`$1` parameters, which sqlx's SQLite
//! driver accepts too) and run through sqlx's `Any` driver; every query is exercised
//! by the integration tests on both backends. Migrations differ per backend.

pub mod conditions;
mod sessions;

pub use sessions::SessionStore;

use sqlx::any::{AnyPoolOptions, AnyQueryResult};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database url (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl);
        };
        let options = AnyPoolOptions::new().max_connections(max_connections).acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            Backend::Sqlite => {
                let url = sqlite_url_creating_file(url);
                options
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL lets readers run beside the single writer; NORMAL sync is
                            // durable across process crashes, which is what WAL needs.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Backend::Postgres => options.connect(url).await?,
        };
        Ok(Db { pool, backend })
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The `n`th (1-based) parameter of a statement built at run time. SQLite gets plain
    /// `?`: it looks every named parameter up by a linear search, so binding a long
    /// multi-row statement with `$n` names took time quadratic in its length.
    fn placeholder(&self, n: usize) -> String {
        match self.backend {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${n}"),
        }
    }

    /// The `VALUES` list of a multi-row INSERT: `rows` groups of `columns` parameters,
    /// numbered on from 1 across the whole statement.
    pub fn values_list(&self, rows: usize, columns: usize) -> String {
        let row = |first: usize| {
            let params: Vec<String> = (first..first + columns).map(|n| self.placeholder(n)).collect();
            format!("({})", params.join(", "))
        };
        (0..rows).map(|index| row(index * columns + 1)).collect::<Vec<_>>().join(", ")
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Opening a SQLite file that does not exist yet must create it.
fn sqlite_url_creating_file(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Turns "no row changed" into the caller's not-found error.
pub fn expect_one_row(result: AnyQueryResult, what: &str) -> Result<(), crate::error::AppError> {
    if result.rows_affected() == 0 {
        Err(crate::error::AppError::not_found(what))
    } else {
        Ok(())
    }
}
