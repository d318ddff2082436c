//! Reading and changing the catalog. Everyone signed in reads models; admins write.

use super::probe::{ProbeOutcome, ProbeTarget};
use super::store::{self, ChannelRecord};
use super::{ChannelChange, ChannelTest, ChannelView, ModelChange, ModelView, NewChannel, NewModel, Protocol};
use crate::access::{Caller, Deferred};
use crate::audit;
use crate::clock::new_id;
use crate::error::AppError;
use crate::state::AppState;

const MAX_TIMEOUT_MS: i64 = 10 * 60 * 1000;

pub async fn list_models(state: &AppState, _caller: &Caller) -> Result<Vec<ModelView>, AppError> {
    store::models(&state.db).await
}

fn validate_model(model: &ModelView, known_channels: &[ChannelRecord]) -> Result<(), AppError> {
    let code_ok = !model.code.is_empty()
        && model.code.len() <= 100
        && model.code.chars().all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c));
    if !code_ok {
        return Err(AppError::invalid("code", "A model code has 1 to 100 letters, digits or . _ : / -"));
    }
    if model.name.trim().is_empty() {
        return Err(AppError::invalid("name", "The name cannot be empty."));
    }
    let prices = [
        ("input_price", Some(model.input_price)),
        ("output_price", Some(model.output_price)),
        ("cache_read_price", model.cache_read_price),
        ("cache_write_price", model.cache_write_price),
    ];
    for (param, price) in prices {
        if price.is_some_and(|price| price < 0) {
            return Err(AppError::invalid(param, "Prices cannot be negative."));
        }
    }
    for (param, count) in [("context_window", model.context_window), ("default_max_tokens", model.default_max_tokens)] {
        if count <= 0 {
            return Err(AppError::invalid(param, "Token counts must be positive."));
        }
    }
    for (index, link) in model.channels.iter().enumerate() {
        if !known_channels.iter().any(|channel| channel.view.id == link.channel_id) {
            return Err(AppError::invalid("channels", format!("No channel has the id {}.", link.channel_id)));
        }
        if link.upstream_model.as_deref().is_some_and(|name| name.trim().is_empty()) {
            return Err(AppError::invalid(
                "channels",
                "An upstream model name cannot be empty; leave it out to use the model's code.",
            ));
        }
        if model.channels[..index].iter().any(|earlier| earlier.channel_id == link.channel_id) {
            return Err(AppError::invalid("channels", format!("The channel {} is listed twice.", link.channel_id)));
        }
    }
    Ok(())
}

pub async fn create_model(state: &AppState, caller: &Caller, input: Deferred<NewModel>) -> Result<ModelView, AppError> {
    let admin = caller.admin()?;
    let input = input.await?;
    let model = ModelView {
        code: input.code.trim().to_owned(),
        name: input.name.trim().to_owned(),
        status: input.status,
        input_price: input.input_price,
        output_price: input.output_price,
        cache_read_price: input.cache_read_price,
        cache_write_price: input.cache_write_price,
        context_window: input.context_window,
        default_max_tokens: input.default_max_tokens,
        channels: input.channels,
    };
    validate_model(&model, &store::channels(&state.db).await?)?;
    store::insert_model(&state.db, &model).await?;
    audit::record(state, admin.actor(), audit::Entry::new("model.create", "model", &model.code).after(&model)).await?;
    state.announce_catalog_change().await;
    Ok(model)
}

pub async fn change_model(
    state: &AppState,
    caller: &Caller,
    code: &str,
    change: Deferred<ModelChange>,
) -> Result<ModelView, AppError> {
    let admin = caller.admin()?;
    let change = change.await?;
    let before = store::model(&state.db, code).await?.ok_or_else(|| AppError::not_found("model"))?;
    let after = ModelView {
        code: before.code.clone(),
        name: change.name.unwrap_or_else(|| before.name.clone()),
        status: change.status.unwrap_or(before.status),
        input_price: change.input_price.unwrap_or(before.input_price),
        output_price: change.output_price.unwrap_or(before.output_price),
        cache_read_price: change.cache_read_price.unwrap_or(before.cache_read_price),
        cache_write_price: change.cache_write_price.unwrap_or(before.cache_write_price),
        context_window: change.context_window.unwrap_or(before.context_window),
        default_max_tokens: change.default_max_tokens.unwrap_or(before.default_max_tokens),
        channels: change.channels.unwrap_or_else(|| before.channels.clone()),
    };
    validate_model(&after, &store::channels(&state.db).await?)?;
    store::update_model(&state.db, &after).await?;
    let entry = audit::Entry::new("model.change", "model", code).before(&before).after(&after);
    audit::record(state, admin.actor(), entry).await?;
    state.announce_catalog_change().await;
    Ok(after)
}

pub async fn list_channels(state: &AppState, caller: &Caller) -> Result<Vec<ChannelView>, AppError> {
    caller.admin()?;
    Ok(store::channels(&state.db).await?.into_iter().map(|record| record.view).collect())
}

async fn validate_channel(state: &AppState, channel: &ChannelView, models: Option<&[String]>) -> Result<(), AppError> {
    if channel.name.trim().is_empty() || channel.name.len() > 100 {
        return Err(AppError::invalid("name", "The name must have 1 to 100 characters."));
    }
    let url_ok = channel.base_url.starts_with("http://") || channel.base_url.starts_with("https://");
    if channel.protocol != Protocol::Echo && !url_ok {
        return Err(AppError::invalid("base_url", "The base URL must start with http:// or https://."));
    }
    // A user name and password in the URL would be a credential stored, shown and logged in
    // clear: credentials go in `credential`, which is sealed and never shown.
    let authority = channel.base_url.split("://").nth(1).unwrap_or_default().split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(AppError::invalid("base_url", "Put the credential in the credential field, not in the URL."));
    }
    if channel.weight <= 0 {
        return Err(AppError::invalid("weight", "The weight must be positive."));
    }
    if !(1..=MAX_TIMEOUT_MS).contains(&channel.timeout_ms) {
        return Err(AppError::invalid("timeout_ms", format!("The timeout must be 1 to {MAX_TIMEOUT_MS} ms.")));
    }
    let catalog = store::models(&state.db).await?;
    for code in models.unwrap_or_default() {
        if !catalog.iter().any(|model| &model.code == code) {
            return Err(AppError::invalid("models", format!("No model has the code {code}.")));
        }
    }
    Ok(())
}

/// A credential travels in an HTTP header: a line break there would smuggle another header.
fn check_credential(credential: Option<&str>) -> Result<(), AppError> {
    match credential.is_some_and(|c| c.chars().any(char::is_control)) {
        true => Err(AppError::invalid("credential", "A credential cannot hold line breaks or control characters.")),
        false => Ok(()),
    }
}

fn seal(state: &AppState, credential: Option<&str>) -> Option<String> {
    credential.filter(|c| !c.is_empty()).map(|c| state.credentials.encrypt(c))
}

pub async fn create_channel(
    state: &AppState,
    caller: &Caller,
    input: Deferred<NewChannel>,
) -> Result<ChannelView, AppError> {
    let admin = caller.admin()?;
    let input = input.await?;
    check_credential(input.credential.as_deref())?;
    let view = ChannelView {
        id: new_id(),
        name: input.name.trim().to_owned(),
        protocol: input.protocol,
        base_url: input.base_url.trim().trim_end_matches('/').to_owned(),
        has_credential: input.credential.as_deref().is_some_and(|c| !c.is_empty()),
        models: input.models.clone(),
        priority: input.priority,
        weight: input.weight,
        enabled: input.enabled,
        timeout_ms: input.timeout_ms,
    };
    validate_channel(state, &view, Some(&input.models)).await?;
    store::save_channel(&state.db, &view, seal(state, input.credential.as_deref()).as_deref(), Some(&input.models))
        .await?;
    audit::record(state, admin.actor(), audit::Entry::new("channel.create", "channel", &view.id).after(&view)).await?;
    state.announce_catalog_change().await;
    Ok(view)
}

pub async fn change_channel(
    state: &AppState,
    caller: &Caller,
    id: &str,
    change: Deferred<ChannelChange>,
) -> Result<ChannelView, AppError> {
    let admin = caller.admin()?;
    let change = change.await?;
    let before = store::channel(&state.db, id).await?.ok_or_else(|| AppError::not_found("channel"))?.view;
    check_credential(change.credential.as_deref())?;
    let sealed = seal(state, change.credential.as_deref());
    let after = ChannelView {
        name: change.name.map(|n| n.trim().to_owned()).unwrap_or_else(|| before.name.clone()),
        protocol: change.protocol.unwrap_or(before.protocol),
        base_url: change
            .base_url
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| before.base_url.clone()),
        has_credential: before.has_credential || sealed.is_some(),
        models: change.models.clone().unwrap_or_else(|| before.models.clone()),
        priority: change.priority.unwrap_or(before.priority),
        weight: change.weight.unwrap_or(before.weight),
        enabled: change.enabled.unwrap_or(before.enabled),
        timeout_ms: change.timeout_ms.unwrap_or(before.timeout_ms),
        ..before.clone()
    };
    validate_channel(state, &after, change.models.as_deref()).await?;
    store::save_channel(&state.db, &after, sealed.as_deref(), change.models.as_deref()).await?;
    let entry = audit::Entry::new("channel.change", "channel", id).before(&before).after(&after);
    audit::record(state, admin.actor(), entry).await?;
    state.announce_catalog_change().await;
    Ok(after)
}

/// Sends one small chat request through the channel, for the first model it serves, and
/// reports how it went. Nothing is reserved, charged or written to the usage log; the
/// test is audited.
pub async fn test_channel(state: &AppState, caller: &Caller, id: &str) -> Result<ChannelTest, AppError> {
    let admin = caller.admin()?;
    let record = store::channel(&state.db, id).await?.ok_or_else(|| AppError::not_found("channel"))?;
    let model = record.view.models.first().cloned().ok_or_else(|| {
        AppError::Conflict("This channel serves no model yet; choose at least one before testing it.".into())
    })?;
    let upstream_model = store::model(&state.db, &model)
        .await?
        .and_then(|view| view.channels.into_iter().find(|link| link.channel_id == id))
        .and_then(|link| link.upstream_model)
        .unwrap_or_else(|| model.clone());
    let outcome = match record.sealed_credential.as_deref().map(|sealed| state.credentials.decrypt(sealed)) {
        Some(Err(_)) => ProbeOutcome {
            status: None,
            latency_ms: 0,
            upstream_request_id: None,
            error: Some("The stored credential cannot be decrypted with the configured key; enter it again.".into()),
        },
        credential => {
            let credential = credential.and_then(Result::ok).map(Into::into);
            let target =
                ProbeTarget { channel: record.view.clone(), credential, upstream_model: upstream_model.clone() };
            state.channel_probe.probe(target).await
        }
    };
    let ok = outcome.error.is_none() && outcome.status.is_some_and(|status| (200..300).contains(&status));
    let test = ChannelTest {
        channel_id: id.to_owned(),
        channel_name: record.view.name,
        model,
        upstream_model,
        ok,
        status: outcome.status,
        latency_ms: outcome.latency_ms,
        upstream_request_id: outcome.upstream_request_id,
        error: outcome.error,
    };
    audit::record(state, admin.actor(), audit::Entry::new("channel.test", "channel", id).after(&test)).await?;
    Ok(test)
}
