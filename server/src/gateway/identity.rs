//! The identity and permission layers: which key, is it usable, from this address.

use super::catalog::{GatewayKey, Snapshot};
use super::error::GatewayError;
use super::protocol::Dialect;
use app::keys::{KeyStatus, KEY_KIND};
use axum::http::{header, HeaderMap};
use std::net::IpAddr;
use std::sync::Arc;

/// The presented key: `Authorization: Bearer` everywhere, `x-api-key` on Anthropic routes.
fn presented_key(headers: &HeaderMap, dialect: Dialect) -> Result<&str, GatewayError> {
    let also = if dialect == Dialect::Anthropic { " or `x-api-key: <key>`" } else { "" };
    let missing = || GatewayError::MissingApiKey { also };
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
        return token.filter(|t| !t.is_empty()).ok_or_else(missing);
    }
    if dialect == Dialect::Anthropic {
        if let Some(value) = headers.get("x-api-key") {
            return value.to_str().ok().map(str::trim).filter(|t| !t.is_empty()).ok_or_else(missing);
        }
    }
    Err(missing())
}

/// The key the request presents, if its secret is right (rows 3 and 4 of the contract).
pub fn authenticate(
    snapshot: &Snapshot,
    headers: &HeaderMap,
    dialect: Dialect,
) -> Result<Arc<GatewayKey>, GatewayError> {
    let token = presented_key(headers, dialect)?;
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
