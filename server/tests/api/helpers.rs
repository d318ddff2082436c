//! `spawn_app`: a fresh database and a running server per test.

use reqwest::{Client, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use server::config::Config;
use server::startup::Application;
use tokio::sync::oneshot;

pub const ADMIN_EMAIL: &str = "admin@test.local";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const PASSWORD: &str = "a long enough password";

/// Generates one test per backend from an `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::helpers::Backend::Sqlite).await
            })+
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::helpers::Backend::Postgres).await
            })+
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test: a SQLite file in a temp dir, or a PostgreSQL
/// database dropped (with its connections) when the test ends.
pub struct TestDatabase {
    pub url: String,
    pub dir: tempfile::TempDir,
    postgres_name: Option<String>,
}

fn postgres_admin_url() -> String {
    std::env::var("TOLLGATE_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> TestDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("tollgate.db").display());
                TestDatabase { url, dir, postgres_name: None }
            }
            Backend::Postgres => {
                use sqlx::{Connection, Executor};
                let name = format!("tollgate_test_{}", uuid::Uuid::now_v7().simple());
                let admin_url = postgres_admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|err| panic!("PostgreSQL at {admin_url} is needed for these tests: {err}"));
                conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str()).await.expect("create database");
                let base = admin_url.rsplit_once('/').expect("url has a database").0;
                TestDatabase { url: format!("{base}/{name}"), dir, postgres_name: Some(name) }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        // Drop runs inside the test's runtime; a separate thread gets its own.
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
            eprintln!("could not drop test database: {err}");
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub database: TestDatabase,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn test_config(database: &TestDatabase) -> Config {
    Config {
        database_url: Some(database.url.clone()),
        database_max_connections: 5,
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: database.dir.path().to_path_buf(),
        admin_email: ADMIN_EMAIL.into(),
        admin_password: Some(SecretString::from(ADMIN_PASSWORD)),
        seed_demo: true,
        ..Config::default()
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on(TestDatabase::create(backend).await, configure).await
}

/// A server on a database the test prepared first (migrated and seeded as a past run left it).
pub async fn spawn_app_on(database: TestDatabase, configure: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config(&database);
    configure(&mut config);
    let (base, shutdown, _) = serve(config).await;
    TestApp { base, database, shutdown: Some(shutdown) }
}

/// Builds and runs an application; returns its URL, what stops it and its task.
async fn serve(config: Config) -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let application = Application::build(config).await.expect("application builds");
    let address = application.local_addr();
    let (shutdown, stopped) = oneshot::channel();
    let running = tokio::spawn(application.run_until(async {
        let _ = stopped.await;
    }));
    (format!("http://{address}"), shutdown, running)
}

/// Another instance on a test app's database and data dir, as several behind a load
/// balancer would be.
pub struct Peer {
    pub base: String,
    shutdown: oneshot::Sender<()>,
    running: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn spawn_peer(app: &TestApp, configure: impl FnOnce(&mut Config)) -> Peer {
    let mut config = test_config(&app.database);
    configure(&mut config);
    let (base, shutdown, running) = serve(config).await;
    Peer { base, shutdown, running }
}

impl Peer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Shuts down gracefully and waits until it has.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        self.running.await.expect("the peer ran").expect("the peer stopped cleanly");
    }
}

/// Another instance on `other`'s database, as a second process behind a load balancer
/// would be: its own data directory and instance id, the same rows.
pub async fn spawn_beside(other: &TestApp, configure: impl FnOnce(&mut Config)) -> TestApp {
    let database = TestDatabase {
        url: other.database.url.clone(),
        dir: tempfile::tempdir().expect("temp dir"),
        postgres_name: None,
    };
    let mut config = test_config(&database);
    config.seed_demo = false;
    // The channels' credentials are sealed with the first instance's key.
    let key = std::fs::read_to_string(other.database.dir.path().join("credential.key")).expect("credential key");
    config.credential_key = Some(SecretString::from(key.trim().to_owned()));
    configure(&mut config);
    let application = Application::build(config).await.expect("application builds");
    let address = application.local_addr();
    let (shutdown, stopped) = oneshot::channel();
    tokio::spawn(application.run_until(async {
        let _ = stopped.await;
    }));
    TestApp { base: format!("http://{address}"), database, shutdown: Some(shutdown) }
}

/// A client that keeps cookies and does not follow redirects: a browser tab on the
/// console's own pages, which says so (`Sec-Fetch-Site: same-origin`) as browsers do.
fn browser_builder() -> reqwest::ClientBuilder {
    let same_origin = reqwest::header::HeaderMap::from_iter([(
        reqwest::header::HeaderName::from_static("sec-fetch-site"),
        reqwest::header::HeaderValue::from_static("same-origin"),
    )]);
    Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).default_headers(same_origin)
}

pub fn browser() -> Client {
    browser_builder().build().expect("client")
}

/// A browser on another client IP: it connects from `ip`, any address of 127.0.0.0/8
/// (all of it is loopback), and the server sees that address as its peer.
pub fn browser_at(ip: &str) -> Client {
    browser_builder().local_address(ip.parse::<std::net::IpAddr>().expect("an IP")).build().expect("client")
}

impl TestApp {
    /// Starts the graceful shutdown `Application::run_until` waits for.
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Calls the console's server function `name` directly over HTTP, as a form post
    /// without `Accept: text/html` (so errors come back with their status, not a redirect).
    pub async fn rpc(&self, client: &Client, name: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = client.post(self.url(&format!("/rpc/{name}"))).form(form).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn sign_in(&self, client: &Client, email: &str, password: &str) -> Response {
        client
            .post(self.url("/api/v1/session"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("request")
    }

    /// A client signed in as the bootstrap admin.
    pub async fn admin(&self) -> Client {
        let client = browser();
        let response = self.sign_in(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "admin signs in");
        client
    }

    /// Creates a user with a platform role and returns its id and a signed-in client.
    pub async fn user(&self, admin: &Client, email: &str, role: &str) -> (String, Client) {
        let created = admin
            .post(self.url("/api/v1/users"))
            .json(&json!({ "email": email, "password": PASSWORD, "role": role }))
            .send()
            .await
            .expect("request");
        assert_eq!(created.status(), StatusCode::CREATED, "user {email} created");
        let id = created.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
        let client = browser();
        assert_eq!(self.sign_in(&client, email, PASSWORD).await.status(), StatusCode::OK);
        (id, client)
    }

    /// Creates an account and makes `owner_id` its owner; returns the account id.
    pub async fn account(&self, admin: &Client, name: &str, owner_id: &str) -> String {
        let created =
            admin.post(self.url("/api/v1/accounts")).json(&json!({ "name": name })).send().await.expect("request");
        assert_eq!(created.status(), StatusCode::CREATED);
        let id = created.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
        let membership = admin
            .post(self.url(&format!("/api/v1/accounts/{id}/members")))
            .json(&json!({ "user_id": owner_id, "role": "owner" }))
            .send()
            .await
            .expect("request");
        assert_eq!(membership.status(), StatusCode::CREATED);
        id
    }
}

/// Reads an error response and checks it has the contract's shape; returns `error`.
pub async fn error_of(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for {code}");
    assert_eq!(response.headers().get("x-tollgate-error-source").and_then(|v| v.to_str().ok()), Some("gateway"));
    let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: Value = response.json().await.expect("error body is JSON");
    let error = body["error"].clone();
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(error["type"].is_string() && error["layer"].is_string(), "{body}");
    assert_eq!(error["request_id"].as_str().map(str::to_owned), request_id, "body and header ids agree");
    error
}

/// The real `tollgate` binary as a child process on a test database.
pub struct ServerProcess {
    child: std::process::Child,
    log_path: std::path::PathBuf,
    pub base: String,
    /// Everything the server printed on standard output so far.
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ServerProcess {
    /// Starts `tollgate serve` with `env` on top of the database's settings, and waits
    /// for it to print its address. Standard output keeps being drained, as a terminal would.
    pub fn start(database: &TestDatabase, env: &[(&str, &str)]) -> ServerProcess {
        Self::start_logging_to(database, "server.log", env)
    }

    /// As `start`, logging to `log_name` in the data dir: for several servers on one database.
    pub fn start_logging_to(database: &TestDatabase, log_name: &str, env: &[(&str, &str)]) -> ServerProcess {
        use std::io::BufRead;
        let log_path = database.dir.path().join(log_name);
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TOLLGATE_DATABASE_URL", &database.url)
            .env("TOLLGATE_DATA_DIR", database.dir.path())
            .env("TOLLGATE_LISTEN", "127.0.0.1:0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log_path).expect("log file"));
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.arg("serve").spawn().expect("the binary starts");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
        let mut banner = String::new();
        let base = loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                let status = child.wait();
                panic!("server exited early ({status:?}): {banner}");
            }
            banner.push_str(&line);
            if let Some(url) = line.trim().strip_prefix("Tollgate console: ") {
                break url.trim_end_matches('/').to_owned();
            }
        };
        let printed = std::sync::Arc::new(std::sync::Mutex::new(banner));
        let collected = printed.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let mut collected = collected.lock().unwrap();
                collected.push_str(&line);
                collected.push('\n');
            }
        });
        ServerProcess { child, log_path, base, stdout: printed }
    }

    /// Standard output once it contains `expected` (waiting up to five seconds).
    pub async fn printed(&self, expected: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let printed = self.stdout.lock().unwrap().clone();
            if printed.contains(expected) {
                return printed;
            }
            assert!(std::time::Instant::now() < deadline, "never printed {expected:?}: {printed}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Signs in as the seeded admin (`TOLLGATE_ADMIN_PASSWORD` = [`ADMIN_PASSWORD`]);
    /// returns the session and the demo account's id.
    pub async fn admin(&self) -> (Client, String) {
        let admin = browser();
        let credentials = json!({"email": "admin@tollgate.local", "password": ADMIN_PASSWORD});
        let me: Value = admin
            .post(format!("{}/api/v1/session", self.base))
            .json(&credentials)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let account = me["accounts"][0]["account_id"].as_str().expect("the demo account").to_owned();
        (admin, account)
    }

    /// A new key on `account`, once the gateway has loaded it.
    pub async fn key(&self, admin: &Client, account: &str) -> String {
        let url = format!("{}/api/v1/accounts/{account}/keys", self.base);
        let created: Value = admin.post(url).json(&json!({"name": "test"})).send().await.unwrap().json().await.unwrap();
        let key = created["secret"].as_str().expect("a secret").to_owned();
        let models = format!("{}/v1/models", self.base);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while reqwest::Client::new().get(&models).bearer_auth(&key).send().await.unwrap().status() != StatusCode::OK {
            assert!(std::time::Instant::now() < deadline, "the gateway never loaded the key");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        key
    }

    /// What the server logged (its standard error) so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGTERM, then the exit status (within ten seconds).
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "server did not stop after SIGTERM");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// SIGSTOP: the process is paused (as a frozen virtual machine or a long stall).
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT: it runs on from where it stopped.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let sent = std::process::Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success(), "kill {signal}");
    }

    /// SIGKILL: a crash.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
