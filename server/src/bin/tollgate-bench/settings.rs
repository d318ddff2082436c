//! What a run does, from `BENCH_*` variables (the Makefile passes them through).

use crate::database::Backend;
use crate::error::BenchError;
use crate::redis_server::RedisServer;
use rand::distributions::{Alphanumeric, DistString};
use std::path::PathBuf;
use std::time::Duration;

pub struct Settings {
    pub backend: Backend,
    pub postgres_admin_url: String,
    /// Offered rates for the open-loop runs.
    pub rates: Vec<u32>,
    pub run_time: Duration,
    pub concurrency: usize,
    /// Closed-loop rounds per mode (direct, forwarder, Tollgate in turn), for medians:
    /// on two shared cores one round's ratio moves by a third between runs.
    pub rounds: usize,
    /// Usage rows the control-plane benchmark seeds.
    pub rows: u64,
    /// The message cap Tollgate runs with (`TOLLGATE_MAX_REQUEST_MESSAGES`); its default
    /// when unset.
    pub message_cap: Option<u64>,
    pub tollgate_bin: PathBuf,
    /// Where the JSON report, the children's logs and the run's scratch directory go.
    pub out_dir: PathBuf,
    pub admin_password: String,
    /// The Redis of the rows with limits (`BENCH_REDIS=1`, at `BENCH_REDIS_URL`); none: no
    /// such rows.
    pub redis: Option<RedisServer>,
}

impl Settings {
    pub fn from_env() -> Result<Settings, BenchError> {
        let backend = match var("BENCH_DB").as_deref() {
            None | Some("sqlite") => Backend::Sqlite,
            Some("postgres") => Backend::Postgres,
            Some(other) => return Err(BenchError::Setting { name: "BENCH_DB", value: other.into() }),
        };
        let mut rates = vec![500, 1000, 2000];
        if var("BENCH_FULL").as_deref() == Some("1") {
            rates.push(4000);
        }
        let exe = std::env::current_exe().map_err(BenchError::io("current executable"))?;
        // Built by the same `cargo build --release` as this tool, so it sits beside it.
        let sibling = exe.with_file_name("tollgate");
        let target_dir = exe.parent().and_then(|release| release.parent()).map(PathBuf::from).unwrap_or_default();
        Ok(Settings {
            backend,
            postgres_admin_url: var("BENCH_POSTGRES_URL")
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            rates,
            run_time: Duration::from_secs(number("BENCH_SECONDS", 5)?),
            concurrency: number("BENCH_CONCURRENCY", 64)? as usize,
            rounds: number("BENCH_ROUNDS", 3)? as usize,
            rows: number("BENCH_ROWS", 200_000)?,
            message_cap: var("BENCH_MESSAGE_CAP").map(|_| number("BENCH_MESSAGE_CAP", 0)).transpose()?,
            tollgate_bin: var("BENCH_TOLLGATE").map_or(sibling, PathBuf::from),
            out_dir: var("BENCH_OUT").map_or(target_dir.join("bench"), PathBuf::from),
            // Any password works: the server is private to this run.
            admin_password: var("BENCH_ADMIN_PASSWORD")
                .unwrap_or_else(|| Alphanumeric.sample_string(&mut rand::thread_rng(), 24)),
            redis: (var("BENCH_REDIS").as_deref() == Some("1"))
                .then(|| RedisServer::new(var("BENCH_REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into()))),
        })
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn number(name: &'static str, default: u64) -> Result<u64, BenchError> {
    match var(name) {
        None => Ok(default),
        Some(value) => match value.parse() {
            Ok(number) if number > 0 => Ok(number),
            _ => Err(BenchError::Setting { name, value }),
        },
    }
}
