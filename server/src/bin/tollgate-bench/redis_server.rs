//! The Redis the rows with limits count in (`BENCH_REDIS=1`): a key prefix of the run's
//! own, so the run neither reads nor leaves anything among other users' keys; the server's
//! CPU time, which Tollgate's own figure leaves out; and the run's keys deleted at the end.

use crate::error::BenchError;
use redis::aio::MultiplexedConnection;
use std::time::Duration;

/// Keys deleted per command when the run cleans up.
const DELETE_BATCH: usize = 1000;

#[derive(Debug, Clone)]
pub struct RedisServer {
    pub url: String,
    /// `TOLLGATE_REDIS_PREFIX` for the run's Tollgate: unique to the run.
    pub prefix: String,
}

impl RedisServer {
    pub fn new(url: String) -> RedisServer {
        RedisServer { url, prefix: format!("tollgate-bench-{}", uuid::Uuid::now_v7().simple()) }
    }

    async fn connect(&self) -> Result<MultiplexedConnection, BenchError> {
        let client = redis::Client::open(self.url.as_str())?;
        Ok(client.get_multiplexed_async_connection().await?)
    }

    /// CPU time the server has used since it started, user and system (`INFO cpu`). It
    /// counts every client: another user of this Redis during a run is charged to it.
    pub async fn cpu_time(&self) -> Result<Duration, BenchError> {
        let info: String = redis::cmd("INFO").arg("cpu").query_async(&mut self.connect().await?).await?;
        let seconds = |field: &str| {
            let line = info.lines().find_map(|line| line.strip_prefix(field)?.strip_prefix(':'));
            line.and_then(|value| value.trim().parse::<f64>().ok()).unwrap_or(0.0)
        };
        Ok(Duration::from_secs_f64(seconds("used_cpu_user") + seconds("used_cpu_sys")))
    }

    /// Deletes every key under the run's prefix; how many there were.
    pub async fn remove_keys(&self) -> Result<usize, BenchError> {
        let mut connection = self.connect().await?;
        let pattern = format!("{}:*", self.prefix);
        let (mut cursor, mut removed) = (0u64, 0);
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(DELETE_BATCH)
                .query_async(&mut connection)
                .await?;
            if !keys.is_empty() {
                removed += redis::cmd("UNLINK").arg(&keys).query_async::<usize>(&mut connection).await?;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }
}
