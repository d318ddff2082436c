//! Why a benchmark run stopped.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid setting {name}={value}")]
    Setting { name: &'static str, value: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{name} could not be started: {source}")]
    Spawn { name: &'static str, source: std::io::Error },
    #[error("{name} exited during the run ({status}); its log: {log}")]
    Exited { name: &'static str, status: std::process::ExitStatus, log: String },
    #[error("{what} was not ready within {seconds} s")]
    NotReady { what: &'static str, seconds: u64 },
    #[error("setting up Tollgate failed at `{step}`: {detail}")]
    Setup { step: &'static str, detail: String },
    #[error("GET {url} failed: {detail}")]
    Query { url: String, detail: String },
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("writing the JSON report: {0}")]
    Json(#[from] serde_json::Error),
}

impl BenchError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BenchError {
        let path = path.into();
        move |source| BenchError::Io { path, source }
    }
}
