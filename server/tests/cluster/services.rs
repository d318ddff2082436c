//! What a cluster stands on: a PostgreSQL database of its own, a Redis key prefix of its
//! own, or a whole `redis-server` the test can kill and start again.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn postgres_admin_url() -> String {
    std::env::var("TOLLGATE_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn shared_redis_url() -> String {
    std::env::var("TOLLGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A PostgreSQL database for one test, dropped (with its connections) at the end.
pub struct Database {
    pub url: String,
    name: String,
}

impl Database {
    pub async fn create() -> Database {
        use sqlx::{Connection, Executor};
        let name = format!("tollgate_cluster_{}", uuid::Uuid::now_v7().simple());
        let admin_url = postgres_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|err| panic!("PostgreSQL at {admin_url} is needed for these tests: {err}"));
        conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str()).await.expect("create database");
        let base = admin_url.rsplit_once('/').expect("url has a database").0;
        Database { url: format!("{base}/{name}"), name }
    }

    pub async fn connect(&self) -> sqlx::PgConnection {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&self.url).await.expect("connect to the test database")
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside the test's runtime; a thread of its own gets another.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                use sqlx::{Connection, Executor};
                let mut conn = sqlx::PgConnection::connect(&postgres_admin_url()).await?;
                conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str()).await?;
                Ok::<_, sqlx::Error>(())
            })
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("could not drop test database {}: {err}", self.name);
        }
    }
}

/// A key prefix of its own on a Redis; its keys are deleted at the end (SCAN + DEL).
pub struct RedisKeys {
    pub url: String,
    pub prefix: String,
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let pattern = format!("{}*", self.prefix);
        let Ok(scan) = Command::new("redis-cli").args(["-u", &self.url, "--scan", "--pattern", &pattern]).output()
        else {
            return eprintln!("redis-cli is needed to delete the test's Redis keys");
        };
        let keys: Vec<String> = String::from_utf8_lossy(&scan.stdout).lines().map(str::to_owned).collect();
        for batch in keys.chunks(100) {
            let _ = Command::new("redis-cli").args(["-u", &self.url, "DEL"]).args(batch).stdout(Stdio::null()).status();
        }
    }
}

/// A `redis-server` of the test's own on a free loopback port, to stop and start again.
pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = RedisServer { port, dir: tempfile::tempdir().unwrap(), child: None };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port, empty, and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (make deps installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pong = Command::new("redis-cli").args(["-p", &self.port.to_string(), "PING"]).output();
            if pong.is_ok_and(|out| out.stdout.starts_with(b"PONG")) {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server on port {} never answered", self.port);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: Redis gone without a goodbye.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill9();
    }
}
