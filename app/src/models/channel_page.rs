use super::channels::{list_channels, take_channel_test, CreateChannel, SetChannelEnabled, TestChannel, UpdateChannel};
use super::{ChannelTest, ChannelView, Protocol};
use crate::layout::{AdminOnly, ErrorNotice, FormResult};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Admin: the upstream providers the gateway routes to.
#[component]
pub fn ChannelsPage() -> impl IntoView {
    view! { <AdminOnly page=ChannelsPageContent /> }
}

#[component]
fn ChannelsPageContent() -> impl IntoView {
    let create = ServerAction::<CreateChannel>::new();
    let update = ServerAction::<UpdateChannel>::new();
    let set_enabled = ServerAction::<SetChannelEnabled>::new();
    let test = ServerAction::<TestChannel>::new();
    let channels = Resource::new(
        move || (create.version().get(), update.version().get(), set_enabled.version().get()),
        |_| list_channels(),
    );
    let flashed = Resource::new(|| (), |_| take_channel_test());
    // `/admin/channels?edit=<id>` opens that channel's edit form: a plain link, so it works
    // without JavaScript.
    let query = use_query_map();
    view! {
        <Title text="Channels" />
        <h1>"Channels"</h1>
        <p class="muted">
            "Upstream providers. The gateway tries enabled channels serving a model, highest priority first, "
            "weighted at random among equals. Credentials are write-only."
        </p>
        <FormResult result=set_enabled.value().into() success="Channel updated." />
        {move || match test.value().get() {
            Some(Ok(test)) => view! { <TestOutcome test /> }.into_any(),
            Some(Err(error)) => view! { <ErrorNotice error /> }.into_any(),
            None => ().into_any(),
        }}
        <Suspense>
            {move || Suspend::new(async move {
                match flashed.await {
                    Ok(Some(test)) => view! { <TestOutcome test /> }.into_any(),
                    _ => ().into_any(),
                }
            })}
        </Suspense>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let editing = query.read().get("edit");
                Suspend::new(async move {
                    match channels.await {
                        Ok(list) => {
                            let edited = list.channels.iter().find(|c| Some(&c.id) == editing.as_ref()).cloned();
                            view! {
                                {edited
                                    .map(|channel| {
                                        view! { <EditChannelForm channel models=list.models.clone() update /> }
                                    })}
                                <ChannelTable channels=list.channels set_enabled test />
                                <CreateChannelForm models=list.models create />
                            }
                                .into_any()
                        }
                        Err(error) => view! { <ErrorNotice error /> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

/// How one test request went: the upstream's status, the latency, its request id, or why it failed.
#[component]
fn TestOutcome(test: ChannelTest) -> impl IntoView {
    let (class, verdict) = if test.ok { ("notice ok", "Test succeeded") } else { ("notice error", "Test failed") };
    let none = || "none".to_owned();
    view! {
        <section class=class role="status" data-testid="channel-test">
            <strong>{verdict}</strong>
            " — channel “"
            {test.channel_name.clone()}
            "”, model "
            <code>{test.model.clone()}</code>
            {(test.upstream_model != test.model)
                .then(|| view! { " (upstream " <code>{test.upstream_model.clone()}</code> ")" })}
            <dl class="facts">
                <dt>"HTTP status"</dt>
                <dd data-testid="test-status">{test.status.map(|status| status.to_string()).unwrap_or_else(none)}</dd>
                <dt>"Latency"</dt>
                <dd data-testid="test-latency">{format!("{} ms", test.latency_ms)}</dd>
                <dt>"Upstream request id"</dt>
                <dd data-testid="test-upstream-request-id">{test.upstream_request_id.clone().unwrap_or_else(none)}</dd>
                {test
                    .error
                    .clone()
                    .map(|error| {
                        view! {
                            <dt>"Error"</dt>
                            <dd data-testid="test-error">{error}</dd>
                        }
                    })}
            </dl>
        </section>
    }
}

#[component]
fn ChannelTable(
    channels: Vec<ChannelView>,
    set_enabled: ServerAction<SetChannelEnabled>,
    test: ServerAction<TestChannel>,
) -> impl IntoView {
    if channels.is_empty() {
        return view! { <p class="empty">"No channels yet. Create one below."</p> }.into_any();
    }
    view! {
        <table class="table" data-testid="channels-table">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Protocol"</th>
                    <th scope="col">"Base URL"</th>
                    <th scope="col">"Models"</th>
                    <th scope="col" class="num">"Priority"</th>
                    <th scope="col" class="num">"Weight"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col" class="num">"Timeout"</th>
                    <th scope="col">"Credential"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {channels
                    .into_iter()
                    .map(|channel| {
                        let (status, next, label) = if channel.enabled {
                            ("enabled", "false", "Disable")
                        } else {
                            ("disabled", "true", "Enable")
                        };
                        let (enable_id, test_id) = (channel.id.clone(), channel.id.clone());
                        let models = if channel.models.is_empty() {
                            "none".to_owned()
                        } else {
                            channel.models.join(", ")
                        };
                        view! {
                            <tr data-channel-name=channel.name.clone()>
                                <td>{channel.name.clone()}</td>
                                <td title=channel.protocol.label()>{channel.protocol.as_str()}</td>
                                <td>
                                    <code>{channel.base_url.clone()}</code>
                                </td>
                                <td data-testid="channel-models">{models}</td>
                                <td class="num">{channel.priority}</td>
                                <td class="num">{channel.weight}</td>
                                <td>
                                    <span class=format!("badge status-{status}") data-testid="channel-status">
                                        {status}
                                    </span>
                                </td>
                                <td class="num">{format!("{} ms", channel.timeout_ms)}</td>
                                <td>{if channel.has_credential { "stored" } else { "none" }}</td>
                                <td>
                                    <div class="actions">
                                        <a class="button-link" href=format!("/admin/channels?edit={}", channel.id)>
                                            "Edit"
                                        </a>
                                        <ActionForm action=set_enabled attr:class="row-form">
                                            <input type="hidden" name="id" value=enable_id />
                                            <input type="hidden" name="enabled" value=next />
                                            <button type="submit">{label}</button>
                                        </ActionForm>
                                        <ActionForm action=test attr:class="row-form">
                                            <input type="hidden" name="id" value=test_id />
                                            // One request at a time: a slow upstream can take its whole timeout.
                                            <button type="submit" disabled=move || test.pending().get()>
                                                "Test"
                                            </button>
                                        </ActionForm>
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

#[component]
fn CreateChannelForm(models: Vec<String>, create: ServerAction<CreateChannel>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"New channel"</h2>
            <FormResult result=create.value().into() success="Channel created." />
            <ActionForm action=create attr:class="key-form" attr:data-testid="create-channel-form">
                <ChannelFields channel=None models />
                <label class="check">
                    <input type="checkbox" name="enabled" value="yes" checked />
                    "Enabled"
                </label>
                <button type="submit">"Create channel"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn EditChannelForm(channel: ChannelView, models: Vec<String>, update: ServerAction<UpdateChannel>) -> impl IntoView {
    let id = channel.id.clone();
    let saved = move || matches!(update.value().get(), Some(Ok(saved)) if saved.id == id);
    let error = move || update.value().get().and_then(Result::err);
    view! {
        <section class="card" data-testid="edit-channel">
            <h2>"Edit channel “" {channel.name.clone()} "”"</h2>
            <p class="muted">
                "Leave the credential blank to keep the stored one. " <a href="/admin/channels">"Close"</a>
            </p>
            {move || error().map(|error| view! { <ErrorNotice error /> })}
            <Show when=saved>
                <p class="notice ok" role="status">"Channel saved."</p>
            </Show>
            <ActionForm action=update attr:class="key-form" attr:data-testid="edit-channel-form">
                <input type="hidden" name="id" value=channel.id.clone() />
                <ChannelFields channel=Some(channel) models />
                <button type="submit">"Save changes"</button>
            </ActionForm>
        </section>
    }
}

/// The fields of the create and edit forms, filled with `channel`'s values when given.
/// The credential field always starts empty: the stored one never leaves the server.
#[component]
fn ChannelFields(channel: Option<ChannelView>, models: Vec<String>) -> impl IntoView {
    let protocol = channel.as_ref().map_or(Protocol::Openai, |c| c.protocol);
    let served = channel.as_ref().map(|c| c.models.clone()).unwrap_or_default();
    let credential_hint = match &channel {
        Some(c) if c.has_credential => "Stored; type a new one to replace it",
        _ => "API key of the provider (none for echo)",
    };
    let number = |value: Option<i64>, default: i64| value.unwrap_or(default).to_string();
    view! {
        <label>
            "Name"
            <input type="text" name="name" maxlength="100" required value=channel.as_ref().map(|c| c.name.clone()) />
        </label>
        <label>
            "Protocol"
            <select name="protocol">
                {Protocol::ALL
                    .iter()
                    .map(|option| {
                        view! {
                            <option value=option.as_str() selected=*option == protocol>
                                {option.label()}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        </label>
        <label>
            "Base URL (OpenAI: with /v1; Anthropic and Gemini: without; empty for echo)"
            <input
                type="url"
                name="base_url"
                placeholder="https://api.openai.com/v1"
                value=channel.as_ref().map(|c| c.base_url.clone())
            />
        </label>
        <label>
            "Credential" <input type="password" name="credential" autocomplete="new-password" placeholder=credential_hint />
        </label>
        <fieldset>
            <legend>"Models served"</legend>
            {models
                .into_iter()
                .map(|code| {
                    let ticked = served.contains(&code);
                    view! {
                        <label class="check">
                            <input type="checkbox" name="models[]" value=code.clone() checked=ticked />
                            {code.clone()}
                        </label>
                    }
                })
                .collect_view()}
        </fieldset>
        <div class="inline-form">
            <label>
                "Priority (higher first)"
                <input type="number" name="priority" required value=number(channel.as_ref().map(|c| c.priority), 0) />
            </label>
            <label>
                "Weight"
                <input
                    type="number"
                    name="weight"
                    min="1"
                    required
                    value=number(channel.as_ref().map(|c| c.weight), super::one())
                />
            </label>
            <label>
                "Timeout (ms)"
                <input
                    type="number"
                    name="timeout_ms"
                    min="1"
                    required
                    value=number(channel.as_ref().map(|c| c.timeout_ms), super::default_timeout_ms())
                />
            </label>
        </div>
    }
}
