use super::channels::list_channels;
use super::{list_catalog, ChannelView, ModelStatus, ModelView, UpdateModel, UpdateModelChannels};
use crate::auth::Viewer;
use crate::layout::{ErrorNotice, FormResult};
use crate::money::format_credits;
use crate::users::PlatformRole;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The model catalog: what each model costs and whether it is on. Admins change both,
/// and which channels serve each model.
#[component]
pub fn ModelsPage() -> impl IntoView {
    let is_admin = expect_context::<Viewer>().user.role == PlatformRole::Admin;
    let update = ServerAction::<UpdateModel>::new();
    let update_channels = ServerAction::<UpdateModelChannels>::new();
    let models = Resource::new(move || (update.version().get(), update_channels.version().get()), |_| list_catalog());
    // Channels are for admins only; everyone else asks for nothing.
    let channels = Resource::new(
        move || (is_admin, update_channels.version().get()),
        |(is_admin, _)| async move {
            match is_admin {
                true => list_channels().await.map(|list| Some(list.channels)),
                false => Ok(None),
            }
        },
    );
    // `/models?channels=<code>` opens that model's channel form: a plain link, so it works
    // without JavaScript.
    let query = use_query_map();
    view! {
        <Title text="Models" />
        <h1>"Models"</h1>
        <p class="muted">
            "Prices are in credits per million tokens. Prompt tokens the provider reads from or writes to "
            "its cache are priced as input unless the model sets a cache price."
        </p>
        <FormResult result=update.value().into() success="Model updated." />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let editing = query.read().get("channels");
                Suspend::new(async move {
                    let (models, channels) = match (models.await, channels.await) {
                        (Ok(models), Ok(channels)) => (models, channels),
                        (Err(error), _) | (_, Err(error)) => return view! { <ErrorNotice error /> }.into_any(),
                    };
                    if models.is_empty() {
                        return view! { <p class="empty">"The catalog is empty."</p> }.into_any();
                    }
                    let edited = models.iter().find(|model| Some(&model.code) == editing.as_ref()).cloned();
                    let form = edited
                        .zip(channels.clone())
                        .map(|(model, channels)| view! { <ModelChannelsForm model channels update_channels /> });
                    view! {
                        {form}
                        <ModelTable models channels update />
                    }
                        .into_any()
                })
            }}
        </Suspense>
    }
}

/// Which channels serve `model`, by name, with the upstream's name where it differs.
fn served_by(model: &ModelView, channels: &[ChannelView]) -> String {
    let names: Vec<String> = model
        .channels
        .iter()
        .map(|link| {
            let name = channels
                .iter()
                .find(|channel| channel.id == link.channel_id)
                .map_or(link.channel_id.as_str(), |channel| channel.name.as_str());
            match &link.upstream_model {
                Some(upstream) => format!("{name} (as {upstream})"),
                None => name.to_owned(),
            }
        })
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// `channels` is given to admins only: they see and change the prices, status and channels.
#[component]
fn ModelTable(
    models: Vec<ModelView>,
    channels: Option<Vec<ChannelView>>,
    update: ServerAction<UpdateModel>,
) -> impl IntoView {
    let is_admin = channels.is_some();
    view! {
        <table class="table" data-testid="models-table">
            <thead>
                <tr>
                    <th scope="col">"Model"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col" class="num">"Input"</th>
                    <th scope="col" class="num">"Output"</th>
                    <th scope="col" class="num">"Cache read"</th>
                    <th scope="col" class="num">"Cache write"</th>
                    <th scope="col" class="num">"Context window"</th>
                    {is_admin
                        .then(|| {
                            view! {
                                <th scope="col">"Channels"</th>
                                <th scope="col">"Change"</th>
                            }
                        })}
                </tr>
            </thead>
            <tbody>
                {models
                    .into_iter()
                    .map(|model| {
                        let badge = match model.status {
                            ModelStatus::Active => "badge status-enabled",
                            ModelStatus::Disabled => "badge status-disabled",
                        };
                        let served = channels.as_deref().map(|channels| served_by(&model, channels));
                        let form = is_admin.then(|| model.clone());
                        let edit_channels = format!("/models?channels={}", model.code);
                        view! {
                            <tr data-testid=format!("model-{}", model.code)>
                                <td>
                                    <code>{model.code.clone()}</code>
                                    " "
                                    <span class="muted">{model.name.clone()}</span>
                                </td>
                                <td>
                                    <span class=badge>{model.status.as_str()}</span>
                                </td>
                                <td class="num">{format_credits(model.input_price)}</td>
                                <td class="num">{format_credits(model.output_price)}</td>
                                <td class="num" data-testid="model-cache-read-price">
                                    <CachePrice price=model.cache_read_price />
                                </td>
                                <td class="num" data-testid="model-cache-write-price">
                                    <CachePrice price=model.cache_write_price />
                                </td>
                                <td class="num">{model.context_window}</td>
                                {served
                                    .map(|served| {
                                        view! {
                                            <td>
                                                <span data-testid="model-channels">{served}</span>
                                                " "
                                                <a class="button-link" href=edit_channels>
                                                    "Edit channels"
                                                </a>
                                            </td>
                                        }
                                    })}
                                {form.map(|model| view! { <ModelForm model update /> })}
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// A cache price, or that it is the input price when the model sets none.
#[component]
fn CachePrice(price: Option<i64>) -> impl IntoView {
    match price {
        Some(price) => format_credits(price).into_any(),
        None => view! { <span class="muted">"as input"</span> }.into_any(),
    }
}

#[component]
fn ModelForm(model: ModelView, update: ServerAction<UpdateModel>) -> impl IntoView {
    view! {
        <td>
            <ActionForm action=update attr:class="row-form">
                <input type="hidden" name="code" value=model.code.clone() />
                <select name="status" aria-label="Status">
                    {ModelStatus::ALL
                        .iter()
                        .map(|status| {
                            view! {
                                <option value=status.as_str() selected=*status == model.status>
                                    {status.as_str()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
                <input
                    type="text"
                    name="input_price"
                    inputmode="decimal"
                    size="8"
                    aria-label="Input price (credits per million tokens)"
                    value=format_credits(model.input_price)
                />
                <input
                    type="text"
                    name="output_price"
                    inputmode="decimal"
                    size="8"
                    aria-label="Output price (credits per million tokens)"
                    value=format_credits(model.output_price)
                />
                <input
                    type="text"
                    name="cache_read_price"
                    inputmode="decimal"
                    size="8"
                    placeholder="as input"
                    aria-label="Cache read price (credits per million tokens; empty: as input)"
                    value=model.cache_read_price.map(format_credits)
                />
                <input
                    type="text"
                    name="cache_write_price"
                    inputmode="decimal"
                    size="8"
                    placeholder="as input"
                    aria-label="Cache write price (credits per million tokens; empty: as input)"
                    value=model.cache_write_price.map(format_credits)
                />
                <button type="submit">"Save"</button>
            </ActionForm>
        </td>
    }
}

/// An admin's form for the channels serving one model and the upstream's name for it on each.
#[component]
fn ModelChannelsForm(
    model: ModelView,
    channels: Vec<ChannelView>,
    update_channels: ServerAction<UpdateModelChannels>,
) -> impl IntoView {
    let code = model.code.clone();
    let saved = move || matches!(update_channels.value().get(), Some(Ok(saved)) if saved.code == code);
    let error = move || update_channels.value().get().and_then(Result::err);
    let no_channels = channels.is_empty().then(|| {
        view! {
            <p class="empty">"No channels yet: create one on the " <a href="/admin/channels">"Channels"</a> " page."</p>
        }
    });
    let rows = channels
        .into_iter()
        .map(|channel| {
            let link = model.channels.iter().find(|link| link.channel_id == channel.id);
            let upstream = link.and_then(|link| link.upstream_model.clone());
            view! {
                <div class="inline-form" data-channel-name=channel.name.clone()>
                    <input type="hidden" name="channel_ids[]" value=channel.id.clone() />
                    <label class="check">
                        <input type="checkbox" name="serve[]" value=channel.id.clone() checked=link.is_some() />
                        {channel.name.clone()}
                        " "
                        <span class="muted">{format!("({})", channel.protocol.label())}</span>
                    </label>
                    <label>
                        "Upstream model name"
                        <input type="text" name="upstream_models[]" value=upstream placeholder=model.code.clone() />
                    </label>
                </div>
            }
        })
        .collect_view();
    view! {
        <section class="card" data-testid="edit-model-channels">
            <h2>"Channels serving " <code>{model.code.clone()}</code></h2>
            <p class="muted">
                "Tick the channels that serve this model. The upstream name is the provider's own name for it "
                "(empty: the model's code). " <a href="/models">"Close"</a>
            </p>
            {move || error().map(|error| view! { <ErrorNotice error /> })}
            <Show when=saved>
                <p class="notice ok" role="status">"Channels saved."</p>
            </Show>
            <ActionForm action=update_channels attr:class="key-form" attr:data-testid="model-channels-form">
                <input type="hidden" name="code" value=model.code.clone() />
                {no_channels}
                {rows}
                <button type="submit">"Save channels"</button>
            </ActionForm>
        </section>
    }
}
