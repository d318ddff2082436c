//! The `tollgate` binary: first-admin bootstrap, `migrate`, `user create`, SIGTERM.

use crate::helpers::{browser, spawn_app_with, Backend, ServerProcess, TestDatabase};
use reqwest::StatusCode;
use std::io::Write;
use std::process::{Command, Stdio};

fn tollgate(database: &TestDatabase) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TOLLGATE_DATABASE_URL", &database.url)
        .env("TOLLGATE_DATA_DIR", database.dir.path())
        .env("TOLLGATE_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info");
    command
}

#[tokio::test]
async fn serve_generates_a_private_admin_password_and_stops_on_sigterm() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let server = ServerProcess::start(&database, &[("RUST_LOG", "info")]);
    let printed = server.printed("First admin").await;
    let password_file = database.dir.path().join("admin-password");
    let password = std::fs::read_to_string(&password_file).unwrap().trim().to_owned();
    assert!(password.len() >= 20);
    assert!(printed.contains(&password_file.display().to_string()), "the file's path is printed");
    assert!(!printed.contains(&password), "the password itself is never printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&password_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "readable only by its owner");
    }

    let base = server.base.clone();
    let signed_in = browser()
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({ "email": "admin@tollgate.local", "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::OK);

    let logs = server.logs();
    assert!(server.terminate().await.success(), "graceful exit");
    assert!(logs.contains("listening"), "logs are captured: {logs}");
    assert!(!logs.contains(&password), "the password never reaches the logs");
}

#[tokio::test]
async fn migrate_and_user_create_prepare_an_operator_account() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let migrated = tollgate(&database).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));

    let mut create = tollgate(&database)
        .args(["user", "create", "--email", "ops@test.local", "--role", "support"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create.stdin.take().unwrap().write_all(b"an operator password\n").unwrap();
    let created = create.wait_with_output().unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));

    let short = tollgate(&database)
        .args(["user", "create", "--email", "weak@test.local"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let refused = {
        let mut short = short;
        short.stdin.take().unwrap().write_all(b"short\n").unwrap();
        short.wait_with_output().unwrap()
    };
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("at least 12 characters"));

    let url = database.url.clone();
    let app = spawn_app_with(Backend::Sqlite, move |config| config.database_url = Some(url)).await;
    let client = browser();
    let response = app.sign_in(&client, "ops@test.local", "an operator password").await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: serde_json::Value = response.json().await.unwrap();
    assert_eq!(me["user"]["role"], "support");
    drop(database);
}
