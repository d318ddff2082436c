use super::invitations::AccountInvitations;
use super::{
    get_account, list_accounts, AccountView, AddMember, ChangeAccount, CreateAccount, MemberView, MembershipRole,
    RemoveMember,
};
use crate::auth::Viewer;
use crate::layout::{ErrorNotice, FormResult};
use crate::money::format_credits;
use crate::users::{PlatformRole, Status};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// Admin and support: every account; admins create them.
#[component]
pub fn AccountsPage() -> impl IntoView {
    let is_admin = expect_context::<Viewer>().user.role == PlatformRole::Admin;
    let create = ServerAction::<CreateAccount>::new();
    let accounts = Resource::new(move || create.version().get(), |_| list_accounts());
    view! {
        <Title text="Accounts" />
        <h1>"Accounts"</h1>
        <Show when=move || is_admin>
            <section class="card">
                <h2>"New account"</h2>
                <FormResult result=create.value().into() success="Account created." />
                <ActionForm action=create attr:class="inline-form">
                    <label>"Name" <input type="text" name="name" maxlength="100" required /></label>
                    <button type="submit">"Create account"</button>
                </ActionForm>
            </section>
        </Show>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match accounts.await {
                    Ok(accounts) if accounts.is_empty() => {
                        view! { <p class="empty">"No accounts yet."</p> }.into_any()
                    }
                    Ok(accounts) => {
                        view! {
                            <table class="table" data-testid="accounts-table">
                                <thead>
                                    <tr>
                                        <th scope="col">"Name"</th>
                                        <th scope="col">"Status"</th>
                                        <th scope="col" class="num">"Balance (credits)"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {accounts
                                        .into_iter()
                                        .map(|account| {
                                            view! {
                                                <tr>
                                                    <td>
                                                        <a href=format!("/admin/accounts/{}", account.id)>{account.name}</a>
                                                    </td>
                                                    <td>{account.status.as_str()}</td>
                                                    <td class="num">{account.balance.map(format_credits).unwrap_or_default()}</td>
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

/// One account: its settings (admins) and members (admins and owners manage them).
#[component]
pub fn AccountPage() -> impl IntoView {
    let params = use_params_map();
    let account_id = move || params.read().get("id").unwrap_or_default();
    let add = ServerAction::<AddMember>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let change = ServerAction::<ChangeAccount>::new();
    let account = Resource::new(
        move || (account_id(), add.version().get(), remove.version().get(), change.version().get()),
        |(id, ..)| get_account(id),
    );
    let viewer = expect_context::<Viewer>();
    let is_admin = viewer.user.role == PlatformRole::Admin;
    let owned: Vec<String> = viewer
        .accounts
        .iter()
        .filter(|membership| membership.role == MembershipRole::Owner)
        .map(|membership| membership.account_id.clone())
        .collect();
    view! {
        <Title text="Account" />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let owned = owned.clone();
                Suspend::new(async move {
                match account.await {
                    Ok((account, members)) => {
                        let id = account.id.clone();
                        let manages = is_admin || owned.contains(&id);
                        view! {
                            <h1>{account.name.clone()}</h1>
                            <p class="muted">
                                {account.balance.map(|balance| format!("Balance {} credits · ", format_credits(balance)))}
                                {account.status.as_str()}
                            </p>
                            {is_admin.then(|| view! { <AccountSettings account=account.clone() change /> })}
                            <Members account_id=id.clone() members add remove is_admin />
                            {manages.then(|| view! { <AccountInvitations account_id=id /> })}
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

#[component]
fn AccountSettings(account: AccountView, change: ServerAction<ChangeAccount>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Settings"</h2>
            <FormResult result=change.value().into() success="Account updated." />
            <ActionForm action=change attr:class="inline-form">
                <input type="hidden" name="id" value=account.id.clone() />
                <label>
                    "Status"
                    <select name="status">
                        {Status::ALL
                            .iter()
                            .map(|status| {
                                view! {
                                    <option value=status.as_str() selected=*status == account.status>
                                        {status.as_str()}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Low-balance threshold (micro-units)"
                    <input type="number" name="low_balance_threshold" min="0" value=account.low_balance_threshold.unwrap_or_default() />
                </label>
                <button type="submit">"Save"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn Members(
    account_id: String,
    members: Vec<MemberView>,
    add: ServerAction<AddMember>,
    remove: ServerAction<RemoveMember>,
    is_admin: bool,
) -> impl IntoView {
    let row_account_id = account_id.clone();
    view! {
        <section class="card">
            <h2>"Members"</h2>
            <FormResult result=remove.value().into() success="Member removed." />
            <table class="table" data-testid="members-table">
                <thead>
                    <tr>
                        <th scope="col">"Email"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col"></th>
                    </tr>
                </thead>
                <tbody>
                    {members
                        .into_iter()
                        .map(|member| {
                            let account_id = row_account_id.clone();
                            view! {
                                <tr>
                                    <td>{member.email}</td>
                                    <td>{member.role.as_str()}</td>
                                    <td>
                                        <ActionForm action=remove>
                                            <input type="hidden" name="account_id" value=account_id />
                                            <input type="hidden" name="user_id" value=member.user_id />
                                            <button type="submit" class="danger">"Remove"</button>
                                        </ActionForm>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            {is_admin.then(|| view! { <AddMemberForm account_id add /> })}
        </section>
    }
}

/// Admins add a registered user at once (they manage users); owners invite instead.
#[component]
fn AddMemberForm(account_id: String, add: ServerAction<AddMember>) -> impl IntoView {
    view! {
        <h3>"Add or change a member"</h3>
        <p class="muted">"At once, without an invitation (admins only)."</p>
        <FormResult result=add.value().into() success="Member saved." />
        <ActionForm action=add attr:class="inline-form">
                <input type="hidden" name="account_id" value=account_id.clone() />
                <label>"Email" <input type="email" name="email" required /></label>
                <label>
                    "Role"
                    <select name="role">
                        {MembershipRole::ALL
                            .iter()
                            .map(|role| view! { <option value=role.as_str()>{role.as_str()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <button type="submit">"Save member"</button>
        </ActionForm>
    }
}
