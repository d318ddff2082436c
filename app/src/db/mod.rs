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

    /// A statement with a `VALUES` list (`{head} VALUES (...), (...) {tail}`, e.g. a
    /// multi-row INSERT) for each chunk of `rows`, with the chunk it is for. Chunks have
    /// one of a few fixed sizes, largest first, so a statement has only a handful of
    /// shapes, each parsed once and kept prepared: a shape per batch size either parsed
    /// the whole statement for every batch (not kept) or held megabytes of statements per
    /// connection (kept).
    pub fn values_statements<'r, T>(
        &self,
        head: &str,
        columns: usize,
        tail: &str,
        rows: &'r [T],
    ) -> impl Iterator<Item = (String, &'r [T])> {
        let (head, tail, backend) = (head.to_owned(), tail.to_owned(), self.backend);
        chunks(rows)
            .map(move |chunk| (format!("{head} VALUES {} {tail}", values_list(backend, chunk.len(), columns)), chunk))
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Rows per `VALUES` list, largest first (see [`Db::values_statements`]): a batch
/// of n rows takes n / 64 statements and at most nine more. 64 rows of the widest table
/// are 1,664 parameters, well under both backends' bounds.
const VALUES_CHUNK_SIZES: [usize; 4] = [64, 16, 4, 1];

/// `rows` cut into chunks of the sizes in [`VALUES_CHUNK_SIZES`], largest first.
fn chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let size = VALUES_CHUNK_SIZES.iter().copied().find(|&size| size <= rest.len())?;
        let (chunk, after) = rest.split_at(size);
        rest = after;
        Some(chunk)
    })
}

/// The `VALUES` list of a multi-row INSERT: `rows` groups of `columns` parameters,
/// numbered on from 1 across the whole statement. SQLite gets plain `?`: it looks every
/// named parameter up by a linear search, so binding a long multi-row statement with
/// `$n` names took time quadratic in its length.
fn values_list(backend: Backend, rows: usize, columns: usize) -> String {
    use std::fmt::Write;
    let mut list = String::with_capacity(rows * columns * 6);
    for row in 0..rows {
        list.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                list.push_str(", ");
            }
            match backend {
                Backend::Sqlite => list.push('?'),
                Backend::Postgres => write!(list, "${}", row * columns + column + 1).expect("writing to a String"),
            }
        }
        list.push(')');
    }
    list
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_into_the_fixed_chunk_sizes_in_order() {
        let rows: Vec<u32> = (0..150).collect();
        let cut: Vec<&[u32]> = chunks(&rows).collect();
        let sizes: Vec<usize> = cut.iter().map(|chunk| chunk.len()).collect();
        assert_eq!(sizes, [64, 64, 16, 4, 1, 1]);
        assert_eq!(cut.concat(), rows, "every row once, in order");
        assert_eq!(chunks::<u32>(&[]).count(), 0);
    }

    #[test]
    fn values_lists_number_postgres_parameters_across_rows() {
        assert_eq!(values_list(Backend::Postgres, 2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_list(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }
}
