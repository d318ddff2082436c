use super::{list_tokens, CreateToken, RevokeToken};
use crate::layout::{AdminOnly, ErrorNotice, FormResult};
use leptos::prelude::*;
use leptos_meta::Title;

/// Admin: management tokens for automation; the secret is shown once.
#[component]
pub fn TokensPage() -> impl IntoView {
    view! { <AdminOnly page=TokensPageContent /> }
}

#[component]
fn TokensPageContent() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_tokens());
    let issued = move || create.value().get().and_then(Result::ok);
    view! {
        <Title text="Management tokens" />
        <h1>"Management tokens"</h1>
        <section class="card">
            <h2>"New token"</h2>
            <p class="muted">"A token acts with your role on the management API (/api/v1)."</p>
            {move || {
                issued()
                    .map(|issued| {
                        view! {
                            <div class="notice ok secret" role="status">
                                <p>"Copy this token now. You will not see it again."</p>
                                <code data-testid="issued-token">{issued.token}</code>
                            </div>
                        }
                    })
            }}
            {move || create.value().get().and_then(Result::err).map(|error| view! { <ErrorNotice error /> })}
            <ActionForm action=create attr:class="inline-form">
                <label>"Name" <input type="text" name="name" maxlength="100" required /></label>
                <button type="submit">"Create token"</button>
            </ActionForm>
        </section>
        <FormResult result=revoke.value().into() success="Token revoked." />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match tokens.await {
                    Ok(tokens) if tokens.is_empty() => view! { <p class="empty">"No tokens yet."</p> }.into_any(),
                    Ok(tokens) => {
                        view! {
                            <table class="table">
                                <thead>
                                    <tr>
                                        <th scope="col">"Name"</th>
                                        <th scope="col">"Prefix"</th>
                                        <th scope="col">"State"</th>
                                        <th scope="col"></th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {tokens
                                        .into_iter()
                                        .map(|token| {
                                            let revoked = token.revoked_at.is_some();
                                            view! {
                                                <tr>
                                                    <td>{token.name}</td>
                                                    <td>
                                                        <code>{token.prefix}</code>
                                                    </td>
                                                    <td>{if revoked { "revoked" } else { "active" }}</td>
                                                    <td>
                                                        {(!revoked)
                                                            .then(|| {
                                                                view! {
                                                                    <ActionForm action=revoke>
                                                                        <input type="hidden" name="id" value=token.id />
                                                                        <button type="submit" class="danger">"Revoke"</button>
                                                                    </ActionForm>
                                                                }
                                                            })}
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
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
