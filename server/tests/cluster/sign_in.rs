//! The sign-in throttle counts wrong passwords across the instances.

use crate::harness::{error_code, run_alone, Cluster, Options, PASSWORD};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_sixth_wrong_password_is_refused_whichever_instance_gets_it() {
    run_alone(async {
        let cluster = Cluster::start(Options::cluster()).await;
        let email = "guessed@cluster.test";
        let user = json!({"email": email, "password": PASSWORD, "role": "user"});
        let created = cluster.admin.post(cluster.url(0, "/api/v1/users")).json(&user).send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let wrong = json!({"email": email, "password": "not the password at all"});
        let attempt = |i: usize| cluster.client.post(cluster.url(i, "/api/v1/session")).json(&wrong).send();

        // The default allows 5 wrong passwords a minute for one email from one IP.
        for n in 0..5 {
            let refused = error_code(attempt(n % 3).await.unwrap()).await;
            assert_eq!(refused, (StatusCode::UNAUTHORIZED, "invalid_credentials".into()), "wrong password {}", n + 1);
        }
        for i in 0..cluster.len() {
            let response = attempt(i).await.unwrap();
            let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            let refused = error_code(response).await;
            assert_eq!(refused, (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts".into()), "on instance {}", i + 1);
            assert!(retry_after.is_some_and(|s| (1..=60).contains(&s)), "Retry-After: {retry_after:?}");
        }
    })
    .await
}
