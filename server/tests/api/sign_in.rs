use crate::helpers::{
    browser, browser_at, error_of, spawn_app, spawn_app_with, Backend, ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD,
};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;

fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tollgate_session="))
        .expect("a session cookie is set")
        .to_owned()
}

async fn good_password_signs_in_with_a_safe_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = browser();
    let response = app.sign_in(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = session_cookie(&response);
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "not Secure unless configured: {cookie}");
    let me: serde_json::Value = response.json().await.unwrap();
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);
    assert_eq!(me["user"]["role"], "admin");
    assert!(me["user"].get("password_hash").is_none());

    let me = client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["accounts"][0]["account_name"], "Demo");
    assert_eq!(me["accounts"][0]["role"], "owner");
}

async fn cookie_is_secure_when_configured(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.secure_cookies = true).await;
    let response = app.sign_in(&browser(), ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(session_cookie(&response).contains("Secure"));
}

async fn signing_in_again_rotates_the_session_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = browser();
    let first = session_cookie(&app.sign_in(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await);
    let second = session_cookie(&app.sign_in(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await);
    let id = |cookie: &str| cookie.split(';').next().unwrap().to_owned();
    assert_ne!(id(&first), id(&second));
}

async fn wrong_password_and_unknown_email_get_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let wrong = error_of(
        app.sign_in(&browser(), ADMIN_EMAIL, "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let unknown = error_of(
        app.sign_in(&browser(), "nobody@test.local", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong["message"], unknown["message"]);
    assert_eq!(wrong["layer"], "identity");
    assert_eq!(wrong["type"], "authentication_error");
}

async fn suspended_user_cannot_sign_in_and_loses_open_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (id, user) = app.user(&admin, "suspend-me@test.local", "user").await;
    assert_eq!(user.get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::OK);

    let suspended = admin
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .json(&json!({ "status": "suspended" }))
        .send()
        .await
        .unwrap();
    assert_eq!(suspended.status(), StatusCode::OK);

    error_of(
        app.sign_in(&browser(), "suspend-me@test.local", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "user_suspended",
    )
    .await;
    error_of(user.get(app.url("/api/v1/me")).send().await.unwrap(), StatusCode::UNAUTHORIZED, "user_suspended").await;
}

/// The throttle's 429: `Retry-After` within the minute the budgets are counted over.
async fn expect_throttled(response: reqwest::Response) {
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let error = error_of(response, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert!(error["message"].as_str().unwrap().contains("Try again in"));
}

async fn wrong_passwords_from_one_ip_stop_that_ip_not_the_user_elsewhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let attacker = "127.0.0.2";
    for _ in 0..5 {
        let response = app.sign_in(&browser_at(attacker), ADMIN_EMAIL, "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // The pair is spent: even the right password from the attacker's address is refused.
    expect_throttled(app.sign_in(&browser_at(attacker), ADMIN_EMAIL, ADMIN_PASSWORD).await).await;

    let user = browser_at("127.0.0.3");
    assert_eq!(app.sign_in(&user, ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(user.get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::OK);
}

async fn guesses_from_many_ips_are_bounded_per_email(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.sign_in_attempts_per_email = 6).await;
    for attempt in 0..6 {
        let ip = format!("127.0.1.{}", attempt + 1);
        let response = app.sign_in(&browser_at(&ip), ADMIN_EMAIL, "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    expect_throttled(app.sign_in(&browser_at("127.0.1.100"), ADMIN_EMAIL, "guess").await).await;
}

async fn successes_do_not_count_and_clear_the_pair(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.sign_in_attempts_per_email_and_ip = 3;
        config.sign_in_attempts_per_email = 6;
        config.sign_in_attempts_per_ip = 6;
    })
    .await;
    for _ in 0..10 {
        assert_eq!(app.sign_in(&browser(), ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::OK);
    }
    // Two typos, then the right password, forgets the pair's typos: three more are allowed.
    for _ in 0..2 {
        assert_eq!(app.sign_in(&browser(), ADMIN_EMAIL, "typo").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.sign_in(&browser(), ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(app.sign_in(&browser(), ADMIN_EMAIL, "typo").await.status(), StatusCode::UNAUTHORIZED);
    }
    expect_throttled(app.sign_in(&browser(), ADMIN_EMAIL, ADMIN_PASSWORD).await).await;
}

async fn repeated_failures_are_throttled_per_ip(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.sign_in_attempts_per_ip = 4).await;
    for attempt in 0..4 {
        let response = app.sign_in(&browser(), &format!("user{attempt}@test.local"), "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    expect_throttled(app.sign_in(&browser(), "fresh@test.local", "guess").await).await;
    let elsewhere = app.sign_in(&browser_at("127.0.0.4"), "fresh@test.local", "guess").await;
    assert_eq!(elsewhere.status(), StatusCode::UNAUTHORIZED, "another IP has its own budget");
}

async fn sign_out_invalidates_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = browser();
    let cookie = session_cookie(&app.sign_in(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await);
    let cookie_pair = cookie.split(';').next().unwrap().to_owned();

    let out = client.delete(app.url("/api/v1/session")).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);

    // Replaying the old cookie from another client must not work: the session is gone server-side.
    let replay = reqwest::Client::new().get(app.url("/api/v1/me")).header("cookie", cookie_pair).send().await.unwrap();
    error_of(replay, StatusCode::UNAUTHORIZED, "not_signed_in").await;
}

on_both_backends!(
    good_password_signs_in_with_a_safe_cookie,
    cookie_is_secure_when_configured,
    signing_in_again_rotates_the_session_id,
    wrong_password_and_unknown_email_get_the_same_answer,
    suspended_user_cannot_sign_in_and_loses_open_sessions,
    wrong_passwords_from_one_ip_stop_that_ip_not_the_user_elsewhere,
    guesses_from_many_ips_are_bounded_per_email,
    successes_do_not_count_and_clear_the_pair,
    repeated_failures_are_throttled_per_ip,
    sign_out_invalidates_the_session,
);
