use super::{
    list_keys, take_new_key, CreateKey, IssuedKey, KeyList, KeyStatus, KeyView, RevokeKey, SetKeyStatus, UpdateKey,
};
use crate::auth::Viewer;
use crate::error::{AppError, ConsoleError};
use crate::layout::{ErrorNotice, FormResult, IssuedSecret, OneTimeSecret, QuoteRequestId};
use crate::money::format_credits;
use crate::timefmt::{format_datetime_local, format_utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// What a key's badge says: its status, or `expired` for an enabled key past its expiry.
pub fn badge(key: &KeyView, now: i64) -> &'static str {
    match key.status {
        KeyStatus::Enabled if key.policy.expires_at.is_some_and(|at| at <= now) => "expired",
        status => status.as_str(),
    }
}

fn summary(items: &[String], empty: &'static str) -> String {
    match items.len() {
        0 => empty.to_owned(),
        1..=2 => items.join(", "),
        n => format!("{}, {} and {} more", items[0], items[1], n - 2),
    }
}

/// A validation error of the key forms as a sentence that names the field (and the
/// entry for list entries: `model_whitelist[1]` is "Models, entry 2"). Allowlist errors
/// name every bad entry, one per line, under the field's name.
pub fn field_sentence(error: &AppError) -> String {
    let AppError::InvalidValue { param, message } = error else {
        return error.to_string();
    };
    let (field, index) = match param.split_once('[') {
        Some((field, rest)) => (field, rest.trim_end_matches(']').parse::<usize>().ok()),
        None => (param.as_str(), None),
    };
    let label = match field {
        "name" => "Name",
        "expires_at" => "Expiry",
        "ip_allowlist" => "IP allowlist",
        "model_whitelist" => "Models",
        "rpm" => "Requests per minute",
        "tpm" => "Tokens per minute",
        "max_concurrency" => "Concurrent requests",
        "spend_cap" => "Spend cap",
        _ => return message.clone(),
    };
    match (field, index) {
        ("ip_allowlist", Some(_)) => format!("{label}:\n{message}"),
        (_, Some(index)) => format!("{label}, entry {}: {message}", index + 1),
        _ => format!("{label}: {message}"),
    }
}

/// Owners see every key of the current account, members their own.
#[component]
pub fn KeysPage() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let Some(account_id) = viewer.current_account.clone() else {
        return view! {
            <Title text="Keys" />
            <h1>"Keys"</h1>
            <p class="empty">"You are not a member of any account yet, so you have no keys."</p>
        }
        .into_any();
    };
    let create = ServerAction::<CreateKey>::new();
    let update = ServerAction::<UpdateKey>::new();
    let set_status = ServerAction::<SetKeyStatus>::new();
    let revoke = ServerAction::<RevokeKey>::new();
    let list_account = account_id.clone();
    let keys = Resource::new(
        move || (create.version().get(), update.version().get(), set_status.version().get(), revoke.version().get()),
        move |_| list_keys(list_account.clone()),
    );
    // `/keys?edit=<id>` opens that key's edit form: a plain link, so it works without JavaScript.
    let query = use_query_map();
    let flashed = Resource::new(|| (), |_| take_new_key());
    view! {
        <Title text="Keys" />
        <h1>"Keys"</h1>
        <IssuedSecret result=create.value().into() flashed show=key_secret />
        <FormResult result=set_status.value().into() success="Key updated." />
        <FormResult result=revoke.value().into() success="Key revoked." />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let account_id = account_id.clone();
                let editing = query.read().get("edit");
                Suspend::new(async move {
                    match keys.await {
                        Ok(list) => {
                            let edited = list
                                .keys
                                .iter()
                                .find(|key| Some(&key.id) == editing.as_ref() && key.status != KeyStatus::Revoked)
                                .cloned();
                            view! {
                                {edited
                                    .map(|key| view! { <EditKeyForm key models=list.models.clone() update /> })}
                                <KeyTable list=list.clone() set_status revoke />
                                <CreateKeyForm account_id models=list.models create />
                            }
                                .into_any()
                        }
                        Err(error) => view! { <ErrorNotice error /> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
    .into_any()
}

#[component]
fn KeyTable(list: KeyList, set_status: ServerAction<SetKeyStatus>, revoke: ServerAction<RevokeKey>) -> impl IntoView {
    if list.keys.is_empty() {
        return view! { <p class="empty">"No keys yet. Create one below."</p> }.into_any();
    }
    let now = list.now;
    view! {
        <table class="table" data-testid="keys-table">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Prefix"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Expires"</th>
                    <th scope="col">"IP allowlist"</th>
                    <th scope="col">"Models"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col" class="num">"Spent (credits)"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {list
                    .keys
                    .into_iter()
                    .map(|key| {
                        let badge = badge(&key, now);
                        let revoked = key.status == KeyStatus::Revoked;
                        let (status_id, revoke_id) = (key.id.clone(), key.id.clone());
                        let (next, label) = if key.status == KeyStatus::Disabled {
                            ("enabled", "Enable")
                        } else {
                            ("disabled", "Disable")
                        };
                        let spent = match key.policy.spend_cap {
                            Some(cap) => format!("{} of {}", format_credits(key.spent), format_credits(cap)),
                            None => format_credits(key.spent),
                        };
                        view! {
                            <tr data-key-name=key.name.clone()>
                                <td>{key.name.clone()}</td>
                                <td>
                                    <code>{key.prefix.clone()}</code>
                                </td>
                                <td>
                                    <span class=format!("badge status-{badge}") data-testid="key-status">
                                        {badge}
                                    </span>
                                </td>
                                <td>{key.policy.expires_at.map(format_utc).unwrap_or_else(|| "never".into())}</td>
                                <td>{summary(&key.policy.ip_allowlist, "any address")}</td>
                                <td>{summary(&key.policy.model_whitelist, "all models")}</td>
                                <td>{key.last_used_at.map(format_utc).unwrap_or_else(|| "never".into())}</td>
                                <td class="num">{spent}</td>
                                <td>
                                    <div class="actions">
                                    {(!revoked)
                                        .then(|| {
                                            view! {
                                                <a
                                                    class="button-link"
                                                    href=format!("/keys?edit={}", key.id)
                                                    data-testid="edit-key-link"
                                                >
                                                    "Edit"
                                                </a>
                                                <ActionForm action=set_status attr:class="row-form">
                                                    <input type="hidden" name="id" value=status_id />
                                                    <input type="hidden" name="status" value=next />
                                                    <button type="submit">{label}</button>
                                                </ActionForm>
                                                <ActionForm action=revoke attr:class="row-form revoke-form">
                                                    <input type="hidden" name="id" value=revoke_id />
                                                    <label class="confirm">
                                                        <input type="checkbox" name="confirm" value="yes" required />
                                                        "Revoking is final"
                                                    </label>
                                                    <button type="submit" class="danger">"Revoke"</button>
                                                </ActionForm>
                                            }
                                        })}
                                    </div>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// The latest error of a key form: the sentence, and one line per bad list entry.
#[component]
fn KeyFormError(result: Signal<Option<Result<(), ConsoleError>>>) -> impl IntoView {
    move || {
        let Some(Err(error)) = result.get() else {
            return ().into_any();
        };
        let sentence = field_sentence(&error.error);
        let mut lines = sentence.lines().map(str::to_owned);
        let first = lines.next().unwrap_or_default();
        let entries: Vec<String> = lines.collect();
        view! {
            <div class="notice error" role="alert">
                {first}
                {(!entries.is_empty())
                    .then(|| {
                        view! {
                            <ul class="field-errors">
                                {entries.into_iter().map(|entry| view! { <li>{entry}</li> }).collect_view()}
                            </ul>
                        }
                    })}
                <QuoteRequestId error />
            </div>
        }
        .into_any()
    }
}

#[component]
fn CreateKeyForm(account_id: String, models: Vec<String>, create: ServerAction<CreateKey>) -> impl IntoView {
    let result = Signal::derive(move || create.value().get().map(|result| result.map(|_| ())));
    view! {
        <section class="card">
            <h2>"New key"</h2>
            <KeyFormError result />
            <ActionForm action=create attr:class="key-form" attr:data-testid="create-key-form">
                <input type="hidden" name="account_id" value=account_id />
                <KeyFields key=None models />
                <button type="submit">"Create key"</button>
            </ActionForm>
        </section>
    }
}

/// Every field of a key's policy; the edit form replaces the whole policy with them.
#[component]
fn EditKeyForm(key: KeyView, models: Vec<String>, update: ServerAction<UpdateKey>) -> impl IntoView {
    let id = key.id.clone();
    let result = Signal::derive(move || update.value().get().map(|result| result.map(|_| ())));
    let saved = move || matches!(update.value().get(), Some(Ok(saved)) if saved.id == id);
    view! {
        <section class="card" data-testid="edit-key">
            <h2>"Edit key “" {key.name.clone()} "” " <code>{key.prefix.clone()}</code></h2>
            <p class="muted">"An empty field removes that limit. " <a href="/keys">"Close"</a></p>
            <KeyFormError result />
            <Show when=saved>
                <p class="notice ok" role="status">"Key saved."</p>
            </Show>
            <ActionForm action=update attr:class="key-form" attr:data-testid="edit-key-form">
                <input type="hidden" name="id" value=key.id.clone() />
                <KeyFields key=Some(key) models />
                <button type="submit">"Save changes"</button>
            </ActionForm>
        </section>
    }
}

/// A textarea's text is its content. An empty one gets no child at all: the server would
/// render an empty text as a placeholder, which inside a textarea is literal text.
#[component]
fn AllowlistInput(entries: Vec<String>) -> impl IntoView {
    const PLACEHOLDER: &str = "203.0.113.7\n10.0.0.0/8";
    if entries.is_empty() {
        view! { <textarea name="ip_allowlist" rows="3" placeholder=PLACEHOLDER></textarea> }.into_any()
    } else {
        view! { <textarea name="ip_allowlist" rows="3" placeholder=PLACEHOLDER>{entries.join("\n")}</textarea> }
            .into_any()
    }
}

/// The fields of the create and edit forms, filled with `key`'s values when given.
#[component]
fn KeyFields(key: Option<KeyView>, models: Vec<String>) -> impl IntoView {
    let policy = key.as_ref().map(|key| key.policy.clone()).unwrap_or_default();
    let number = |value: Option<i64>| value.map(|n| n.to_string()).unwrap_or_default();
    let whitelist = policy.model_whitelist.clone();
    view! {
        <label>
            "Name" <input type="text" name="name" maxlength="100" required value=key.map(|key| key.name) />
        </label>
        <label>
            "Expires (UTC, empty: never)"
            <input
                type="datetime-local"
                name="expires_at"
                value=policy.expires_at.map(format_datetime_local).unwrap_or_default()
            />
        </label>
        <label>
            "IP allowlist (one address or CIDR per line; empty: any)" <AllowlistInput entries=policy.ip_allowlist />
        </label>
        <fieldset>
            <legend>"Models (none ticked: all models)"</legend>
            {models
                .into_iter()
                .map(|code| {
                    let ticked = whitelist.contains(&code);
                    view! {
                        <label class="check">
                            <input type="checkbox" name="model_whitelist[]" value=code.clone() checked=ticked />
                            {code.clone()}
                        </label>
                    }
                })
                .collect_view()}
        </fieldset>
        <div class="inline-form">
            <label>
                "Requests per minute" <input type="number" name="rpm" min="1" value=number(policy.rpm) />
            </label>
            <label>
                "Tokens per minute" <input type="number" name="tpm" min="1" value=number(policy.tpm) />
            </label>
            <label>
                "Concurrent requests"
                <input type="number" name="max_concurrency" min="1" value=number(policy.max_concurrency) />
            </label>
            <label>
                "Spend cap (credits)"
                <input
                    type="text"
                    name="spend_cap"
                    inputmode="decimal"
                    value=policy.spend_cap.map(format_credits).unwrap_or_default()
                />
            </label>
        </div>
    }
}

/// The new key's secret, shown this once.
fn key_secret(issued: IssuedKey) -> impl IntoView {
    view! { <OneTimeSecret what="Key" name=issued.key.name secret=issued.secret testid="new-key" secret_testid="new-key-secret" copy_testid="copy-secret" /> }
}

#[cfg(test)]
mod tests {
    use super::{badge, field_sentence, summary};
    use crate::error::AppError;
    use crate::keys::{KeyPolicy, KeyStatus, KeyView};

    #[test]
    fn badges_and_summaries() {
        let mut key = KeyView {
            id: "k".into(),
            account_id: "a".into(),
            user_id: "u".into(),
            name: "n".into(),
            prefix: "tg-x".into(),
            status: KeyStatus::Enabled,
            policy: KeyPolicy { expires_at: Some(1_000), ..KeyPolicy::default() },
            spent: 0,
            last_used_at: None,
            created_at: 0,
        };
        assert_eq!(badge(&key, 999), "enabled");
        assert_eq!(badge(&key, 1_000), "expired");
        key.status = KeyStatus::Revoked;
        assert_eq!(badge(&key, 1_000), "revoked");
        let items: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        assert_eq!(summary(&items, "any"), "a, b and 2 more");
        assert_eq!(summary(&items[..1], "any"), "a");
        assert_eq!(summary(&[], "any"), "any");
        let error = AppError::invalid("ip_allowlist[1]", "Entry 2: `x` is bad.\nEntry 4: `y` is bad.");
        assert_eq!(field_sentence(&error), "IP allowlist:\nEntry 2: `x` is bad.\nEntry 4: `y` is bad.");
        let error = AppError::invalid("model_whitelist[1]", "No model has the code `z`.");
        assert_eq!(field_sentence(&error), "Models, entry 2: No model has the code `z`.");
        let error = AppError::invalid("rpm", "`rpm` must be at least 1.");
        assert_eq!(field_sentence(&error), "Requests per minute: `rpm` must be at least 1.");
    }
}
