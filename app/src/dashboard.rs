//! The first page after sign-in: who you are and where you stand.

use crate::accounts::get_account;
use crate::auth::Viewer;
use crate::layout::ErrorNotice;
use crate::money::format_credits;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let current = viewer.current_account.clone();
    let role = viewer
        .accounts
        .iter()
        .find(|membership| Some(&membership.account_id) == current.as_ref())
        .map(|membership| membership.role.as_str())
        .unwrap_or("");
    let account = Resource::new(
        move || current.clone(),
        |id| async move {
            match id {
                Some(id) => get_account(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    view! {
        <Title text="Dashboard" />
        <h1>"Dashboard"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match account.await {
                    Ok(Some((account, members))) => {
                        let low = account.balance < account.low_balance_threshold;
                        view! {
                            <section class="card" data-testid="account-summary">
                                <h2>{account.name.clone()}</h2>
                                <p class="muted">"You are " {role} " of this account."</p>
                                <dl class="stats">
                                    <div>
                                        <dt>"Balance"</dt>
                                        <dd data-testid="balance">{format_credits(account.balance)} " credits"</dd>
                                    </div>
                                    <div>
                                        <dt>"Members"</dt>
                                        <dd>{members.len()}</dd>
                                    </div>
                                    <div>
                                        <dt>"Status"</dt>
                                        <dd>{account.status.as_str()}</dd>
                                    </div>
                                </dl>
                                <Show when=move || low>
                                    <p class="notice warn" role="status">
                                        "The balance is below this account's low-balance threshold."
                                    </p>
                                </Show>
                            </section>
                        }
                            .into_any()
                    }
                    Ok(None) => {
                        view! {
                            <section class="card empty">
                                <p>"You do not belong to any account yet. Ask an administrator to add you to one."</p>
                            </section>
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
