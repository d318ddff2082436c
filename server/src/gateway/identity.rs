//! The identity and permission layers: which key, is it usable, from this address.

use super::catalog::{GatewayKey, Snapshot};
use super::dialect::Dialect;
use super::error::GatewayError;
use app::keys::{KeyStatus, KEY_KIND};
use axum::http::{header, HeaderMap};
use std::net::IpAddr;
use std::sync::Arc;

/// The presented key: `Authorization: Bearer` on every route, and the header family of
/// the route's dialect: `x-api-key` (Anthropic), `x-goog-api-key` or `?key=` (Gemini).
fn presented_key<'a>(
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    dialect: Dialect,
) -> Result<&'a str, GatewayError> {
    let also = match dialect {
        Dialect::Anthropic => " or `x-api-key: <key>`",
        Dialect::Gemini => ", `x-goog-api-key: <key>` or `?key=<key>`",
        Dialect::Chat | Dialect::Responses => "",
    };
    let missing = || GatewayError::MissingApiKey { also };
    let present = |token: Option<&'a str>| token.map(str::trim).filter(|t| !t.is_empty()).ok_or_else(missing);
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        return present(value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")));
    }
    let family_header = match dialect {
        Dialect::Anthropic => Some("x-api-key"),
        Dialect::Gemini => Some("x-goog-api-key"),
        Dialect::Chat | Dialect::Responses => None,
    };
    if let Some(value) = family_header.and_then(|name| headers.get(name)) {
        return present(value.to_str().ok());
    }
    if dialect == Dialect::Gemini {
        if let Some(key) = query.and_then(key_parameter) {
            return present(Some(key));
        }
    }
    Err(missing())
}

/// `key=` of a query string. Keys are URL-safe, so no decoding is needed; one that is
/// percent-encoded anyway fails as an invalid key, not silently as another.
fn key_parameter(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| pair.strip_prefix("key="))
}

/// The key the request presents, if its secret is right (rows 3 and 4 of the contract).
pub fn authenticate(
    snapshot: &Snapshot,
    headers: &HeaderMap,
    query: Option<&str>,
    dialect: Dialect,
) -> Result<Arc<GatewayKey>, GatewayError> {
    let token = presented_key(headers, query, dialect)?;
    let (public_id, secret) = app::secrets::parse(KEY_KIND, token).ok_or(GatewayError::InvalidApiKey)?;
    let key = snapshot.key(public_id).ok_or(GatewayError::InvalidApiKey)?;
    if !app::secrets::matches(secret, &key.secret_hash) {
        return Err(GatewayError::InvalidApiKey);
    }
    Ok(key.clone())
}

/// Whether an authentic key may be used now (rows 5 to 8).
pub fn check_usable(key: &GatewayKey, now_ms: i64) -> Result<(), GatewayError> {
    let prefix = || key.prefix.clone();
    match key.status {
        KeyStatus::Disabled => return Err(GatewayError::ApiKeyDisabled { prefix: prefix() }),
        KeyStatus::Revoked => return Err(GatewayError::ApiKeyRevoked { prefix: prefix() }),
        KeyStatus::Enabled => {}
    }
    if key.suspended {
        return Err(GatewayError::AccountDisabled { prefix: prefix() });
    }
    if key.policy.expires_at.is_some_and(|expires_at| expires_at <= now_ms) {
        return Err(GatewayError::ApiKeyExpired { prefix: prefix() });
    }
    Ok(())
}

/// The permission layer's address check: an empty allowlist allows every address.
pub fn check_ip(key: &GatewayKey, ip: IpAddr) -> Result<(), GatewayError> {
    if key.allowlist.is_empty() || key.allowlist.iter().any(|net| net.contains(&ip)) {
        Ok(())
    } else {
        Err(GatewayError::IpNotAllowed { ip: ip.to_string(), prefix: key.prefix.clone() })
    }
}
