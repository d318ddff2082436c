//! What the `sessions` table holds: no session id as the cookie carries it, and no one-time
//! secret of the no-JavaScript forms (a key, a management token, redemption codes), which
//! the page the form redirects to shows once.

use crate::helpers::{
    browser, error_of, spawn_app, Backend, ServerProcess, TestApp, TestDatabase, ADMIN_EMAIL, ADMIN_PASSWORD,
};
use crate::on_both_backends;
use base64::Engine;
use reqwest::header::{ACCEPT, LOCATION, ORIGIN, REFERER};
use reqwest::{Client, StatusCode};

/// Every row of the table as stored: `(id, data)`.
async fn session_rows(app: &TestApp) -> Vec<(String, String)> {
    let db = app::db::Db::connect(&app.database.url, 1).await.unwrap();
    let rows = sqlx::query_as("SELECT id, data FROM sessions").fetch_all(db.pool()).await.unwrap();
    db.close().await;
    rows
}

fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("tollgate_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie is set")
        .to_owned()
}

/// Posts a console form as a browser without JavaScript does: the server function runs
/// and redirects back to the page the form is on.
async fn plain_form_post(app: &TestApp, client: &Client, page: &str, function: &str, form: &[(&str, &str)]) {
    let response = client
        .post(app.url(&format!("/rpc/{function}")))
        .header(ACCEPT, "text/html,application/xhtml+xml")
        .header(REFERER, app.url(page))
        .header(ORIGIN, &app.base)
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND, "{function} redirects back");
    let location = response.headers()[LOCATION].to_str().unwrap();
    assert!(location.starts_with(page), "{function} redirects to {location}");
}

async fn page(app: &TestApp, client: &Client, path: &str) -> String {
    let response = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.unwrap()
}

/// The words of `html` of the shape `prefix` + `len - prefix.len()` more characters
/// (letters, digits, dashes), each once.
fn secrets_in(html: &str, prefix: &str, len: usize) -> Vec<String> {
    let mut found: Vec<String> = html
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| word.starts_with(prefix) && word.len() == len)
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Whether `stored` gives `secret` away: in clear, or in an encoding anyone can undo
/// (base64 of either alphabet, hex). A sealed value opens only with the server's key.
fn reveals(stored: &str, secret: &str) -> bool {
    if stored.contains(secret) || stored.to_lowercase().contains(&hex_of(secret)) {
        return true;
    }
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    stored
        .split(|c: char| !(c.is_ascii_alphanumeric() || "+/=-_".contains(c)))
        .filter(|run| run.len() >= 16)
        .flat_map(|run| engines.iter().filter_map(move |engine| engine.decode(run.trim_end_matches('=')).ok()))
        .any(|decoded| String::from_utf8_lossy(&decoded).contains(secret))
}

fn hex_of(text: &str) -> String {
    text.bytes().map(|byte| format!("{byte:02x}")).collect()
}

/// Runs a no-JavaScript creation on `page` and returns the secrets its next render showed,
/// having checked that the table never held them and that the render after showed none.
async fn created_without_javascript(
    app: &TestApp,
    client: &Client,
    page_path: &str,
    function: &str,
    form: &[(&str, &str)],
    shape: (&str, usize),
) -> Vec<String> {
    let before = secrets_in(&page(app, client, page_path).await, shape.0, shape.1);
    let rows_before = session_rows(app).await;
    plain_form_post(app, client, page_path, function, form).await;
    // Between the post and the page it redirects to, the secret waits in the session.
    let waiting = session_rows(app).await;
    let shown = secrets_in(&page(app, client, page_path).await, shape.0, shape.1);
    let new: Vec<String> = shown.into_iter().filter(|secret| !before.contains(secret)).collect();
    assert!(!new.is_empty(), "{function}: the page after the post shows the new secret");
    let after_render = session_rows(app).await;
    for secret in &new {
        for (id, data) in waiting.iter().chain(&after_render) {
            assert!(!reveals(data, secret) && !reveals(id, secret), "{function}: a session row gives {secret} away");
        }
    }
    assert_eq!(after_render, rows_before, "{function}: the render that showed the secret took it out of the session");
    let again = secrets_in(&page(app, client, page_path).await, shape.0, shape.1);
    for secret in &new {
        assert!(!again.contains(secret), "{function}: {secret} is shown once, not on the next render");
    }
    new
}

async fn one_time_secrets_never_rest_in_the_session_table(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let me: serde_json::Value = admin.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    let account = me["accounts"][0]["account_id"].as_str().unwrap().to_owned();

    let keys = created_without_javascript(
        &app,
        &admin,
        "/keys",
        "create_key",
        &[("account_id", &account), ("name", "no-js key")],
        ("tg-", 56),
    )
    .await;
    assert_eq!(keys.len(), 1);
    let models = reqwest::Client::new().get(app.url("/v1/models")).bearer_auth(&keys[0]).send().await.unwrap();
    assert_eq!(models.status(), StatusCode::OK, "the key shown is the key created");

    let tokens = created_without_javascript(
        &app,
        &admin,
        "/admin/tokens",
        "create_token",
        &[("name", "no-js token")],
        ("tgm-", 57),
    )
    .await;
    assert_eq!(tokens.len(), 1);
    let me = reqwest::Client::new().get(app.url("/api/v1/me")).bearer_auth(&tokens[0]).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK, "the token shown is the token created");

    let codes = created_without_javascript(
        &app,
        &admin,
        "/balance",
        "create_redemption_codes",
        &[("amount", "2"), ("count", "3")],
        ("TG-", 22),
    )
    .await;
    assert_eq!(codes.len(), 3);
}

async fn session_ids_are_stored_hashed_and_sessions_still_work(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = browser();
    let signed_in = app.sign_in(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let cookie = session_cookie(&signed_in);
    let rows = session_rows(&app).await;
    assert_eq!(rows.len(), 1, "one signed-in session");
    let (stored_id, _) = &rows[0];
    assert_ne!(stored_id, &cookie, "the table does not hold the cookie's value");
    assert!(!reveals(stored_id, &cookie), "nor an encoding of it");

    // A page loads on the session, and the stored id is no cookie to sign in with.
    assert!(page(&app, &client, "/keys").await.contains("data-testid=\"create-key-form\""));
    let replayed =
        Client::new().get(app.url("/api/v1/me")).header("cookie", format!("tollgate_session={stored_id}")).send().await;
    error_of(replayed.unwrap(), StatusCode::UNAUTHORIZED, "not_signed_in").await;

    let out = client.delete(app.url("/api/v1/session")).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(session_rows(&app).await.is_empty(), "signing out deletes the row");
    error_of(client.get(app.url("/api/v1/me")).send().await.unwrap(), StatusCode::UNAUTHORIZED, "not_signed_in").await;
}

/// A hundred cookies that are no session, of every sort a fuzzer sends: each is no session
/// (signed out, and signing in still works), and none leaves a WARN in the server's log.
async fn bogus_session_cookies_are_no_session_and_log_no_warning(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let server = ServerProcess::start(&database, &[("TOLLGATE_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let logged_before = server.logs().len();
    // No cookie store (each request carries only its bogus cookie) and no redirects followed.
    let client = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let alphabet: Vec<char> = "ABCxyz019-_+/=%\"'\\ é.;".chars().collect();
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let mut cookies: Vec<String> = vec![
        String::new(),
        "x".into(),
        "\"AAAAAAAAAAAAAAAAAAAAAA\"".into(),
        "AAAAAAAAAAAAAAAAAAAAAA".into(),
        "AAAAAAAAAAAAAAAAAAAAAAAA".into(),
        "%41%41".into(),
        "A".repeat(4_000),
    ];
    while cookies.len() < 100 {
        let len = next() % 64;
        let value: String = (0..len).map(|_| alphabet[next() % alphabet.len()]).filter(|c| *c != ';').collect();
        cookies.push(value);
    }
    for (at, value) in cookies.iter().enumerate() {
        let cookie = format!("tollgate_session={value}");
        let Ok(header) = reqwest::header::HeaderValue::from_str(&cookie) else { continue };
        let path = ["/api/v1/me", "/keys", "/api/v1/accounts"][at % 3];
        let response = client.get(format!("{}{path}", server.base)).header("cookie", header).send().await.unwrap();
        let status = response.status();
        if path.starts_with("/api/") {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with {cookie:?} is signed out");
        } else {
            let page = response.text().await.unwrap();
            assert!(status.is_success() || status.is_redirection(), "{path} with {cookie:?}: {status}");
            assert!(!page.contains("create-key-form"), "{path} with {cookie:?} is the sign-in, not the console");
        }
    }
    let signed_in = client
        .post(format!("{}/api/v1/session", server.base))
        .header("cookie", format!("tollgate_session={}", cookies[1]))
        .json(&serde_json::json!({"email": "admin@tollgate.local", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::OK, "a bogus cookie does not stand in the way of signing in");

    let logs = server.logs();
    let warnings: Vec<&str> = logs[logged_before..].lines().filter(|line| line.contains("WARN")).collect();
    assert!(warnings.is_empty(), "bogus cookies left {} WARN lines: {warnings:#?}", warnings.len());
    server.terminate().await;
}

on_both_backends!(
    bogus_session_cookies_are_no_session_and_log_no_warning,
    one_time_secrets_never_rest_in_the_session_table,
    session_ids_are_stored_hashed_and_sessions_still_work,
);
