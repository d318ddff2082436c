use super::{list_tokens, take_new_token, CreateToken, IssuedToken, RevokeToken, TokenView};
use crate::layout::{AdminOnly, ErrorNotice, FormResult, IssuedSecret, OneTimeSecret};
use crate::timefmt::format_utc;
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
    // A token created without JavaScript comes back through the session, once.
    let flashed = Resource::new(|| (), |_| take_new_token());
    view! {
        <Title text="Management tokens" />
        <h1>"Management tokens"</h1>
        <IssuedSecret result=create.value().into() flashed show=token_secret />
        <section class="card">
            <h2>"New token"</h2>
            <p class="muted">
                "A token acts as you, with your role, on the management API (/api/v1): send it as "
                <code>"Authorization: Bearer tgm-…"</code> "."
            </p>
            {move || create.value().get().and_then(Result::err).map(|error| view! { <ErrorNotice error /> })}
            <ActionForm action=create attr:class="inline-form" attr:data-testid="create-token-form">
                <label>"Name" <input type="text" name="name" maxlength="100" required placeholder="ci-deploy" /></label>
                <button type="submit">"Create token"</button>
            </ActionForm>
        </section>
        <FormResult result=revoke.value().into() success="Token revoked. It can never be used again." />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match tokens.await {
                    Ok(tokens) if tokens.is_empty() => {
                        view! {
                            <p class="empty" data-testid="tokens-empty">
                                "No tokens yet. Create one above to automate the management API."
                            </p>
                        }
                            .into_any()
                    }
                    Ok(tokens) => view! { <TokenTable tokens revoke /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TokenTable(tokens: Vec<TokenView>, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    view! {
        <table class="table" data-testid="tokens-table">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Prefix"</th>
                    <th scope="col">"Created by"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"State"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {tokens
                    .into_iter()
                    .map(|token| {
                        let state = match token.revoked_at {
                            Some(at) => view! {
                                <span class="badge status-revoked" data-testid="token-state">"revoked"</span>
                                <span class="muted">" " {format_utc(at)}</span>
                            }
                                .into_any(),
                            None => view! {
                                <span class="badge status-enabled" data-testid="token-state">"active"</span>
                            }
                                .into_any(),
                        };
                        let actions = token.revoked_at.is_none().then(|| view! { <RevokeForm id=token.id.clone() revoke /> });
                        let name = token.name.clone();
                        view! {
                            <tr data-token-name=name>
                                <td>{token.name}</td>
                                <td>
                                    <code>{token.prefix}</code>
                                </td>
                                <td>{token.created_by_email}</td>
                                <td class="nowrap">{format_utc(token.created_at)}</td>
                                <td class="nowrap">{token.last_used_at.map(format_utc).unwrap_or_else(|| "never".into())}</td>
                                <td>{state}</td>
                                <td>{actions}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// Revoking needs the box ticked first (checked again on the server): it cannot be undone.
#[component]
fn RevokeForm(id: String, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    view! {
        <ActionForm action=revoke attr:class="row-form revoke-form">
            <input type="hidden" name="id" value=id />
            <label class="confirm">
                <input type="checkbox" name="confirm" value="yes" required />
                "Revoking is final"
            </label>
            <button type="submit" class="danger">"Revoke"</button>
        </ActionForm>
    }
}

/// The new token's secret, shown this once.
fn token_secret(issued: IssuedToken) -> impl IntoView {
    view! { <OneTimeSecret what="Token" name=issued.view.name secret=issued.token testid="new-token" secret_testid="issued-token" copy_testid="copy-token" /> }
}
