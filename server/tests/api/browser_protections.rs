//! What protects a signed-in browser: changes made with the session cookie must come from
//! the console's own origin (CSRF), redirects stay on the console, and every console page
//! and API answer carries the security headers. No database behaviour is involved, so these
//! run on SQLite only.

use crate::helpers::{error_of, spawn_app, spawn_app_with, Backend, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{json, Value};

/// A browser tab signed in as the admin whose requests name no origin of their own; each
/// test adds the headers a same-origin or a forged request would carry.
async fn signed_in_tab(app: &TestApp) -> Client {
    let client =
        Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let signed_in = app.sign_in(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::OK, "signing in needs no origin: no cookie is used yet");
    client
}

fn new_user(app: &TestApp, client: &Client, email: &str) -> RequestBuilder {
    client
        .post(app.url("/api/v1/users"))
        .json(&json!({ "email": email, "password": "a long enough password", "role": "admin" }))
}

/// Reads with the tab's own cookie: reads need no origin.
async fn user_exists(app: &TestApp, tab: &Client, email: &str) -> bool {
    let users: Vec<Value> = tab.get(app.url("/api/v1/users")).send().await.unwrap().json().await.unwrap();
    users.iter().any(|user| user["email"] == email)
}

#[tokio::test]
async fn cookie_writes_from_another_origin_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let tab = signed_in_tab(&app).await;
    let other_port =
        app.base.rsplit_once(':').map(|(host, port)| format!("{host}:{}", port.parse::<u16>().unwrap() + 1));
    let forgeries: [(&str, Option<(&str, String)>); 5] = [
        ("another port", Some(("origin", other_port.unwrap()))),
        ("another site", Some(("origin", "https://evil.example".to_owned()))),
        ("an opaque origin", Some(("origin", "null".to_owned()))),
        ("a same-site page", Some(("sec-fetch-site", "same-site".to_owned()))),
        ("no origin at all", None),
    ];
    for (index, (what, header)) in forgeries.into_iter().enumerate() {
        let email = format!("forged-{index}@test.local");
        let mut request = new_user(&app, &tab, &email);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let refused = request.send().await.unwrap();
        let error = error_of(refused, StatusCode::FORBIDDEN, "cross_origin_request").await;
        assert_eq!(error["layer"], "permission", "{what}");
        assert!(!user_exists(&app, &tab, &email).await, "{what}: no user was created");
    }
    let own = new_user(&app, &tab, "own-origin@test.local").header("origin", &app.base).send().await.unwrap();
    assert_eq!(own.status(), StatusCode::CREATED, "the console's own origin may");
    let fetched =
        new_user(&app, &tab, "own-fetch@test.local").header("sec-fetch-site", "same-origin").send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::CREATED, "a same-origin fetch may");
    let read = tab.get(app.url("/api/v1/users")).header("origin", "https://evil.example").send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK, "reads change nothing (and CORS keeps their answer from the page)");
}

#[tokio::test]
async fn management_tokens_are_not_affected() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = app.admin().await;
    let created: Value = admin
        .post(app.url("/api/v1/tokens"))
        .json(&json!({ "name": "ci" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap();
    let automation = Client::new();
    let made = new_user(&app, &automation, "by-token@test.local")
        .bearer_auth(token)
        .header("origin", "https://ci.example")
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED, "a bearer token is no ambient credential");
}

#[tokio::test]
async fn server_functions_are_refused_from_another_origin_even_without_a_cookie() {
    let app = spawn_app(Backend::Sqlite).await;
    let anonymous = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let forged_sign_in = anonymous
        .post(app.url("/rpc/sign_in"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(forged_sign_in.headers().get("set-cookie").is_none(), "no session from a forged sign-in");
    error_of(forged_sign_in, StatusCode::FORBIDDEN, "cross_origin_request").await;

    let tab = signed_in_tab(&app).await;
    let forged = tab
        .post(app.url("/rpc/create_user"))
        .header("sec-fetch-site", "same-site")
        .header("accept", "text/html")
        .header("referer", "http://127.0.0.1:1/attacker")
        .form(&[("email", "rpc-forged@test.local"), ("password", "a long enough password"), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert!(forged.headers().get("location").is_none(), "a refused form post is not sent back to its Referer");
    error_of(forged, StatusCode::FORBIDDEN, "cross_origin_request").await;
    assert!(!user_exists(&app, &tab, "rpc-forged@test.local").await);
}

#[tokio::test]
async fn a_form_post_is_redirected_only_to_the_consoles_own_paths() {
    let app = spawn_app(Backend::Sqlite).await;
    let tab = signed_in_tab(&app).await;
    let cases = [
        ("https://evil.example/phish", "/".to_owned()),
        ("//evil.example/phish", "/".to_owned()),
        (&*format!("{}/admin/users?tab=1", app.base), "/admin/users?tab=1".to_owned()),
    ];
    for (index, (referer, expected)) in cases.iter().enumerate() {
        let email = format!("redirected-{index}@test.local");
        let posted = tab
            .post(app.url("/rpc/create_user"))
            .header("origin", &app.base)
            .header("accept", "text/html")
            .header("referer", *referer)
            .form(&[("email", email.as_str()), ("password", "a long enough password"), ("role", "user")])
            .send()
            .await
            .unwrap();
        assert!(posted.status().is_redirection(), "{referer}: {}", posted.status());
        assert_eq!(posted.headers()["location"], expected.as_str(), "{referer}");
        assert!(user_exists(&app, &tab, &email).await, "the console's own form post works");
    }
}

/// Every console page a signed-in admin can open.
/// How long a console page may take to render on these shared cores.
const WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

const CONSOLE_PAGES: &[&str] = &[
    "/",
    "/keys",
    "/models",
    "/usage",
    "/support",
    "/balance",
    "/admin/tokens",
    "/admin/audit",
    "/admin/users",
    "/admin/accounts",
    "/admin/channels",
    "/no-such-page",
];

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|value: &HeaderValue| value.to_str().ok()).unwrap_or_default()
}

fn assert_common_headers(headers: &HeaderMap, what: &str) {
    assert_eq!(header(headers, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(headers, "x-frame-options"), "DENY", "{what}");
    assert_eq!(header(headers, "referrer-policy"), "same-origin", "{what}");
    assert_eq!(header(headers, "cache-control"), "no-store", "{what}");
    assert!(header(headers, "content-security-policy").contains("frame-ancestors 'none'"), "{what}");
}

#[tokio::test]
async fn every_console_page_carries_a_nonce_policy_and_the_security_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = app.admin().await;
    let anonymous = Client::new();
    let pages = std::iter::once(("/sign-in", &anonymous)).chain(CONSOLE_PAGES.iter().map(|path| (*path, &admin)));
    for (path, client) in pages {
        // Each page is read whole before the next is asked for: no answer is left unread.
        // Bounded: a render that never ends fails here, naming its page, instead of hanging the suite.
        let page = tokio::time::timeout(WITHIN, client.get(app.url(path)).send())
            .await
            .unwrap_or_else(|_| panic!("{path} did not answer within {WITHIN:?}"))
            .unwrap();
        let headers = page.headers().clone();
        let html = tokio::time::timeout(WITHIN, page.text())
            .await
            .unwrap_or_else(|_| panic!("{path}'s body did not end within {WITHIN:?}"))
            .unwrap();
        assert_common_headers(&headers, path);
        let policy = header(&headers, "content-security-policy");
        let nonce = policy
            .split_once("'nonce-")
            .and_then(|(_, rest)| rest.split_once('\''))
            .map(|(nonce, _)| nonce)
            .unwrap_or_else(|| panic!("{path}: scripts need the response's nonce: {policy}"));
        assert!(html.contains(&format!("nonce=\"{nonce}\"")), "{path}: the hydration script carries the nonce");
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert!(header(&headers, "strict-transport-security").is_empty(), "{path}: no HSTS over plain HTTP");
    }
}

#[tokio::test]
async fn api_answers_and_secrets_carry_the_security_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = app.admin().await;
    let me = admin.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_common_headers(me.headers(), "GET /api/v1/me");
    assert_eq!(header(me.headers(), "content-security-policy").split(';').next(), Some("default-src 'none'"));
    let account = me.json::<Value>().await.unwrap()["accounts"][0]["account_id"].as_str().unwrap().to_owned();
    let key = admin
        .post(app.url(&format!("/api/v1/accounts/{account}/keys")))
        .json(&json!({ "name": "secret" }))
        .send()
        .await
        .unwrap();
    assert_eq!(key.status(), StatusCode::CREATED);
    assert_common_headers(key.headers(), "a new key's secret");
    let unknown = admin.get(app.url("/api/v1/nothing-here")).send().await.unwrap();
    assert_common_headers(unknown.headers(), "an unknown API route");
    let asset = admin.get(app.url("/pkg/tollgate.css")).send().await.unwrap();
    assert_ne!(header(asset.headers(), "cache-control"), "no-store", "the compiled console may be cached");
}

#[tokio::test]
async fn https_consoles_send_hsts() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.secure_cookies = true).await;
    let page = Client::new().get(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(header(page.headers(), "strict-transport-security"), "max-age=31536000");
}
