//! IP allowlists: v4, v6, CIDR edges; forwarded addresses believed only from trusted proxies.

use super::{gateway_error, hello, World};
use crate::helpers::Backend;
use reqwest::StatusCode;
use serde_json::json;

async fn status_from(w: &World, key: &str, forwarded_for: &str) -> StatusCode {
    let request =
        w.client.post(w.app.url("/v1/chat/completions")).bearer_auth(key).header("x-forwarded-for", forwarded_for);
    request.json(&hello("echo-1")).send().await.unwrap().status()
}

#[tokio::test]
async fn allowlists_match_addresses_and_cidrs_at_their_edges() {
    let w =
        World::with_config(Backend::Sqlite, |config| config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()])
            .await;
    let key = w.key(json!({"ip_allowlist": ["192.168.1.0/24", "203.0.113.7", "2001:db8::/32"]})).await;
    let cases = [
        ("192.168.1.0", StatusCode::OK),
        ("192.168.1.255", StatusCode::OK),
        ("192.168.2.0", StatusCode::FORBIDDEN),
        ("192.168.0.255", StatusCode::FORBIDDEN),
        ("203.0.113.7", StatusCode::OK),
        ("203.0.113.8", StatusCode::FORBIDDEN),
        ("::ffff:203.0.113.7", StatusCode::OK),
        ("2001:db8::1", StatusCode::OK),
        ("2001:db8:ffff:ffff::", StatusCode::OK),
        ("2001:db9::", StatusCode::FORBIDDEN),
        ("::1", StatusCode::FORBIDDEN),
    ];
    for (address, expected) in cases {
        assert_eq!(status_from(&w, &key, address).await, expected, "{address}");
    }
    // The nearest untrusted hop is the client, whatever the client prepended.
    assert_eq!(status_from(&w, &key, "192.168.1.9, 198.51.100.1").await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_ipv4_mapped_entry_admits_its_ipv4_client() {
    let w = World::new(Backend::Sqlite).await;
    let key = w.key(json!({"ip_allowlist": ["::ffff:127.0.0.1"]})).await;
    let answered = w.client.post(w.app.url("/v1/chat/completions")).bearer_auth(&key).json(&hello("echo-1"));
    assert_eq!(answered.send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn forwarded_addresses_from_untrusted_peers_are_ignored() {
    let w = World::new(Backend::Sqlite).await;
    let key = w.key(json!({"ip_allowlist": ["10.0.0.0/8"]})).await;
    let spoofed =
        w.client.post(w.app.url("/v1/chat/completions")).bearer_auth(&key).header("x-forwarded-for", "10.1.2.3");
    let error =
        gateway_error(spoofed.json(&hello("echo-1")).send().await.unwrap(), 403, "ip_not_allowed", "permission").await;
    assert!(error["message"].as_str().unwrap().contains("127.0.0.1"), "the socket's address is used");
}

#[tokio::test]
async fn invalid_allowlist_entries_are_refused_by_name() {
    let w = World::new(Backend::Sqlite).await;
    let created = w
        .admin
        .post(w.app.url(&format!("/api/v1/accounts/{}/keys", w.account)))
        .json(&json!({"name": "bad", "ip_allowlist": ["10.0.0.0/8", "10.0.0.300"]}))
        .send()
        .await
        .unwrap();
    let error = crate::helpers::error_of(created, StatusCode::BAD_REQUEST, "invalid_value").await;
    assert_eq!(error["param"], "ip_allowlist[1]");
    assert!(error["message"].as_str().unwrap().contains("10.0.0.300"));
}
