use super::{list_catalog, ModelStatus, ModelView, UpdateModel};
use crate::auth::Viewer;
use crate::layout::{ErrorNotice, FormResult};
use crate::money::format_credits;
use crate::users::PlatformRole;
use leptos::prelude::*;
use leptos_meta::Title;

/// The model catalog: what each model costs and whether it is on. Admins change both.
#[component]
pub fn ModelsPage() -> impl IntoView {
    let is_admin = expect_context::<Viewer>().user.role == PlatformRole::Admin;
    let update = ServerAction::<UpdateModel>::new();
    let models = Resource::new(move || update.version().get(), |_| list_catalog());
    view! {
        <Title text="Models" />
        <h1>"Models"</h1>
        <p class="muted">"Prices are in credits per million tokens."</p>
        <FormResult result=update.value().into() success="Model updated." />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match models.await {
                    Ok(models) if models.is_empty() => view! { <p class="empty">"The catalog is empty."</p> }.into_any(),
                    Ok(models) => view! { <ModelTable models is_admin update /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ModelTable(models: Vec<ModelView>, is_admin: bool, update: ServerAction<UpdateModel>) -> impl IntoView {
    view! {
        <table class="table" data-testid="models-table">
            <thead>
                <tr>
                    <th scope="col">"Model"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col" class="num">"Input"</th>
                    <th scope="col" class="num">"Output"</th>
                    <th scope="col" class="num">"Context window"</th>
                    {is_admin.then(|| view! { <th scope="col">"Change"</th> })}
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
                        let form = is_admin.then(|| model.clone());
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
                                <td class="num">{model.context_window}</td>
                                {form.map(|model| view! { <ModelForm model update /> })}
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
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
                <button type="submit">"Save"</button>
            </ActionForm>
        </td>
    }
}
