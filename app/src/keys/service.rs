//! What callers may do with keys. Members manage their own keys; owners and admins all
//! of an account's; support reads. A key outside the caller's reach answers 404.

use super::{store, IssuedKey, KeyChange, KeyPolicy, KeyStatus, KeyView, NewKey, KEY_KIND};
use crate::access::{AccountNeed, AccountScope, Caller, Deferred};
use crate::audit;
use crate::clock::{new_id, now_ms};
use crate::error::AppError;
use crate::models::store as catalog;
use crate::secrets;
use crate::state::AppState;
use ipnet::IpNet;
use std::net::IpAddr;

/// Parses an allowlist entry: an IP address or a CIDR, v4 or v6.
pub fn parse_allowlist_entry(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    let net = entry.parse::<IpNet>().ok().or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))?;
    Some(ipv4_mapped_as_ipv4(net))
}

/// `::ffff:10.0.0.0/104` is `10.0.0.0/8`: the gateway sees a v4-mapped client as its IPv4
/// address, so an entry written the mapped way must mean the same addresses.
fn ipv4_mapped_as_ipv4(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map(IpNet::V4).unwrap_or(net),
            None => net,
        },
        _ => net,
    }
}

/// Refuses an allowlist with bad entries, naming every one of them (one line each), so
/// a person fixes them all at once; `param` points at the first.
fn check_allowlist(entries: &[String]) -> Result<(), AppError> {
    let bad: Vec<(usize, &String)> =
        entries.iter().enumerate().filter(|(_, entry)| parse_allowlist_entry(entry).is_none()).collect();
    let Some((first, _)) = bad.first() else {
        return Ok(());
    };
    let lines: Vec<String> = bad
        .iter()
        .map(|(index, entry)| {
            format!(
                "Entry {}: `{entry}` is not an IP address or CIDR (e.g. 203.0.113.7, 10.0.0.0/8, 2001:db8::/32).",
                index + 1
            )
        })
        .collect();
    Err(AppError::invalid(&format!("ip_allowlist[{first}]"), lines.join("\n")))
}

async fn validate(state: &AppState, name: &str, policy: &KeyPolicy) -> Result<(), AppError> {
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid("name", "The name must have 1 to 100 characters."));
    }
    if let Some(expires_at) = policy.expires_at {
        if expires_at <= now_ms() {
            return Err(AppError::invalid("expires_at", "The expiry must be in the future."));
        }
    }
    check_allowlist(&policy.ip_allowlist)?;
    let models = catalog::models(&state.db).await?;
    for (index, code) in policy.model_whitelist.iter().enumerate() {
        if !models.iter().any(|model| &model.code == code) {
            return Err(AppError::invalid(
                &format!("model_whitelist[{index}]"),
                format!("No model has the code `{code}`."),
            ));
        }
    }
    let non_negative = [("spend_cap", policy.spend_cap, 0)];
    let positive = [("rpm", policy.rpm, 1), ("tpm", policy.tpm, 1), ("max_concurrency", policy.max_concurrency, 1)];
    for (param, value, min) in non_negative.into_iter().chain(positive) {
        if value.is_some_and(|value| value < min) {
            return Err(AppError::invalid(param, format!("`{param}` must be at least {min}.")));
        }
    }
    Ok(())
}

fn normalized(policy: KeyPolicy) -> KeyPolicy {
    KeyPolicy {
        ip_allowlist: policy.ip_allowlist.iter().map(|entry| entry.trim().to_owned()).collect(),
        model_whitelist: policy.model_whitelist.iter().map(|code| code.trim().to_owned()).collect(),
        ..policy
    }
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
    input: Deferred<NewKey>,
) -> Result<IssuedKey, AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::Use).await?;
    let input = input.await?;
    let policy = normalized(KeyPolicy {
        expires_at: input.expires_at,
        ip_allowlist: input.ip_allowlist,
        model_whitelist: input.model_whitelist,
        spend_cap: input.spend_cap,
        rpm: input.rpm,
        tpm: input.tpm,
        max_concurrency: input.max_concurrency,
    });
    validate(state, &input.name, &policy).await?;
    let issued = secrets::issue(KEY_KIND);
    let key = KeyView {
        id: new_id(),
        account_id: scope.account_id().to_owned(),
        user_id: caller.user.id.clone(),
        name: input.name.trim().to_owned(),
        prefix: format!("{KEY_KIND}-{}", issued.public_id),
        status: KeyStatus::Enabled,
        policy,
        spent: 0,
        last_used_at: None,
        created_at: now_ms(),
    };
    store::insert(&state.db, &key, &issued.public_id, &issued.secret_hash).await?;
    let entry = audit::Entry::new("key.create", "key", &key.id).account(&key.account_id).after(&key);
    audit::record(state, scope.actor(), entry).await?;
    state.announce_catalog_change().await;
    Ok(IssuedKey { id: key.id.clone(), prefix: key.prefix.clone(), secret: issued.full, key })
}

pub async fn list(state: &AppState, caller: &Caller, account_id: &str) -> Result<Vec<KeyView>, AppError> {
    let scope = caller.account(&state.db, account_id, AccountNeed::Read).await?;
    let only_own = (!scope.sees_everything()).then_some(caller.user.id.as_str());
    store::list(&state.db, scope.account_id(), only_own).await
}

/// The key and the caller's scope in its account, if the caller may `need` it.
async fn reach(
    state: &AppState,
    caller: &Caller,
    id: &str,
    need: AccountNeed,
) -> Result<(KeyView, AccountScope), AppError> {
    let key = store::by_id(&state.db, id).await?.ok_or_else(|| AppError::not_found("key"))?;
    let scope = caller.account(&state.db, &key.account_id, need).await.map_err(|err| match err {
        AppError::NotFound { .. } => AppError::not_found("key"),
        other => other,
    })?;
    if !scope.sees_everything() && key.user_id != caller.user.id {
        return Err(AppError::not_found("key"));
    }
    Ok((key, scope))
}

pub async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<KeyView, AppError> {
    Ok(reach(state, caller, id, AccountNeed::Read).await?.0)
}

pub async fn change(
    state: &AppState,
    caller: &Caller,
    id: &str,
    change: Deferred<KeyChange>,
) -> Result<KeyView, AppError> {
    let (before, scope) = reach(state, caller, id, AccountNeed::Use).await?;
    let change = change.await?;
    if before.status == KeyStatus::Revoked {
        return Err(AppError::Conflict("This key is revoked; a revoked key cannot be changed or re-enabled.".into()));
    }
    if change.status == Some(KeyStatus::Revoked) {
        return Err(AppError::invalid("status", "Revoke a key with POST /api/v1/keys/{id}/revoke."));
    }
    let after = KeyView {
        name: change.name.as_deref().map(str::trim).unwrap_or(&before.name).to_owned(),
        status: change.status.unwrap_or(before.status),
        policy: normalized(change.apply(&before.policy)),
        ..before.clone()
    };
    let expiry_unchanged = after.policy.expires_at == before.policy.expires_at;
    let checked =
        KeyPolicy { expires_at: if expiry_unchanged { None } else { after.policy.expires_at }, ..after.policy.clone() };
    validate(state, &after.name, &checked).await?;
    store::update(&state.db, &after).await?;
    let entry = audit::Entry::new("key.change", "key", id).account(&after.account_id).before(&before).after(&after);
    audit::record(state, scope.actor(), entry).await?;
    state.announce_catalog_change().await;
    Ok(after)
}

pub async fn revoke(state: &AppState, caller: &Caller, id: &str) -> Result<KeyView, AppError> {
    let (before, scope) = reach(state, caller, id, AccountNeed::Use).await?;
    if before.status == KeyStatus::Revoked {
        return Ok(before);
    }
    let after = KeyView { status: KeyStatus::Revoked, ..before.clone() };
    store::update(&state.db, &after).await?;
    let entry = audit::Entry::new("key.revoke", "key", id).account(&after.account_id).before(&before).after(&after);
    audit::record(state, scope.actor(), entry).await?;
    state.announce_catalog_change().await;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::{check_allowlist, parse_allowlist_entry};
    use crate::error::AppError;

    #[test]
    fn ipv4_mapped_entries_mean_their_ipv4_addresses() {
        let entry = |text: &str| parse_allowlist_entry(text).unwrap().to_string();
        assert_eq!(entry("::ffff:127.0.0.1"), "127.0.0.1/32");
        assert_eq!(entry("::ffff:10.0.0.0/104"), "10.0.0.0/8");
        assert_eq!(entry("2001:db8::/32"), "2001:db8::/32");
    }

    #[test]
    fn names_every_bad_allowlist_entry() {
        let entries: Vec<String> = ["10.0.0.0/8", "nope", "::1", "10.0.0.300"].map(String::from).to_vec();
        let Err(AppError::InvalidValue { param, message }) = check_allowlist(&entries) else {
            panic!("bad entries are refused");
        };
        assert_eq!(param, "ip_allowlist[1]");
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 2, "{message}");
        assert!(lines[0].starts_with("Entry 2: `nope` is not an IP address or CIDR"), "{message}");
        assert!(lines[1].starts_with("Entry 4: `10.0.0.300`"), "{message}");
        assert!(check_allowlist(&entries[..1]).is_ok());
    }
}
