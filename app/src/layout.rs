//! The signed-in frame: navigation for the viewer's role, account switcher, sign-out.

use crate::accounts::invitations::{AcceptInvitation, MyInvitations};
use crate::accounts::MembershipRole;
use crate::auth::{current_viewer, SignOut, SwitchAccount, Viewer};
use crate::error::{AppError, ConsoleError};
use crate::users::PlatformRole;
use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};

/// Loads the signed-in user once for every console page; sends strangers to sign in.
#[component]
pub fn ConsoleLayout() -> impl IntoView {
    let switch = ServerAction::<SwitchAccount>::new();
    // Accepting an invitation adds an account: the viewer is loaded again after each.
    let accept = ServerAction::<AcceptInvitation>::new();
    let viewer = Resource::new(move || (switch.version().get(), accept.version().get()), |_| current_viewer());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Some(viewer)) => {
                        provide_context(viewer.clone());
                        view! { <Frame viewer switch accept /> }.into_any()
                    }
                    Ok(None) => view! { <Redirect path="/sign-in" /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Frame(viewer: Viewer, switch: ServerAction<SwitchAccount>, accept: ServerAction<AcceptInvitation>) -> impl IntoView {
    let menu_open = RwSignal::new(false);
    let role = viewer.user.role;
    let is_staff = role != PlatformRole::User;
    let is_admin = role == PlatformRole::Admin;
    let has_account = viewer.current_account.is_some();
    let owns_current = viewer.accounts.iter().any(|membership| {
        Some(&membership.account_id) == viewer.current_account.as_ref() && membership.role == MembershipRole::Owner
    });
    // Balances are for owners (admins and support read them too); members do not see money.
    let sees_balance = is_staff || owns_current;
    // Staff reach every account's members from "Accounts"; owners their own here.
    let members_page = (owns_current && !is_staff)
        .then(|| viewer.current_account.as_ref().map(|id| format!("/admin/accounts/{id}")))
        .flatten();
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Tollgate"</a>
            <button
                class="menu-toggle"
                data-testid="nav-toggle"
                aria-controls="main-nav"
                aria-expanded=move || menu_open.get().to_string()
                on:click=move |_| menu_open.update(|open| *open = !*open)
            >
                "Menu"
            </button>
            <nav id="main-nav" class="nav" class:open=move || menu_open.get() aria-label="Main">
                <A href="/">"Dashboard"</A>
                <A href="/models">"Models"</A>
                <Show when=move || has_account>
                    <A href="/keys">"Keys"</A>
                    <A href="/usage">"Usage"</A>
                </Show>
                <Show when=move || has_account && sees_balance>
                    <A href="/balance">"Balance"</A>
                </Show>
                {members_page.map(|href| view! { <A href=href>"Members"</A> })}
                <Show when=move || is_staff>
                    <A href="/support">"Support"</A>
                </Show>
                <Show when=move || is_staff>
                    <A href="/admin/accounts">"Accounts"</A>
                </Show>
                <Show when=move || is_admin>
                    <A href="/admin/users">"Users"</A>
                    <A href="/admin/tokens">"Tokens"</A>
                    <A href="/admin/audit">"Audit"</A>
                    <A href="/admin/channels">"Channels"</A>
                </Show>
            </nav>
            <AccountSwitcher viewer=viewer.clone() switch />
            <div class="who">
                <a href=crate::auth::PROFILE_PAGE title="Profile and password">
                    <span data-testid="viewer-email">{viewer.user.email.clone()}</span>
                </a>
                <span class="badge">{viewer.user.role.as_str()}</span>
                <SignOutButton />
            </div>
        </header>
        <main class="content">
            <MyInvitations accept />
            <Outlet />
        </main>
    }
}

#[component]
fn AccountSwitcher(viewer: Viewer, switch: ServerAction<SwitchAccount>) -> impl IntoView {
    if viewer.accounts.len() < 2 {
        return ().into_any();
    }
    let current = viewer.current_account.clone().unwrap_or_default();
    view! {
        <ActionForm action=switch attr:class="switcher">
            <label for="account-switch">"Account"</label>
            <select id="account-switch" name="account_id" data-testid="account-switcher">
                {viewer
                    .accounts
                    .into_iter()
                    .map(|membership| {
                        let selected = membership.account_id == current;
                        view! {
                            <option value=membership.account_id selected=selected>
                                {membership.account_name}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <button type="submit">"Switch"</button>
        </ActionForm>
    }
    .into_any()
}

#[component]
fn SignOutButton() -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <ActionForm action=sign_out attr:class="sign-out">
            <button type="submit" data-testid="sign-out">"Sign out"</button>
        </ActionForm>
    }
}

/// Renders `page` for platform admins, and the permission sentence for everyone else.
/// The server refuses non-admins anyway; this keeps the UI from offering forms that fail.
#[component]
pub fn AdminOnly<V: IntoView + 'static>(page: impl FnOnce() -> V + Send + 'static) -> impl IntoView {
    if expect_context::<Viewer>().user.role == PlatformRole::Admin {
        page().into_any()
    } else {
        view! { <ErrorNotice error=ConsoleError::local(AppError::Forbidden) /> }.into_any()
    }
}

/// An error as a sentence a person understands, with the id of the request that failed.
#[component]
pub fn ErrorNotice(error: ConsoleError) -> impl IntoView {
    view! {
        <p class="notice error" role="alert">
            <span data-testid="error-sentence">{error.to_string()}</span>
            <QuoteRequestId error />
        </p>
    }
    .into_any()
}

/// "Request id …" with a copy button, for an error whose sentence does not quote it yet.
#[component]
pub fn QuoteRequestId(error: ConsoleError) -> impl IntoView {
    error.id_to_quote().map(|id| {
        view! {
            <span class="quote">
                " Request id " <CopyableId id=id.to_owned() testid="error-request-id" />
            </span>
        }
    })
}

/// A button that copies `text` (`/pkg/copy.js`, so it works before hydration too).
#[component]
pub fn CopyButton(text: String) -> impl IntoView {
    view! {
        <button
            type="button"
            class="copy"
            data-copy=text
        >
            "Copy"
        </button>
    }
}

/// A request id with a button that copies it.
#[component]
pub fn CopyableId(id: String, #[prop(default = "request-id")] testid: &'static str) -> impl IntoView {
    view! {
        <span class="copyable">
            <code data-testid=testid>{id.clone()}</code>
            <CopyButton text=id />
        </span>
    }
}

/// A secret just issued, shown once: from the form's result when JavaScript posted it, or
/// from the session when a plain form post (no JavaScript) was redirected back here.
#[component]
pub fn IssuedSecret<T, V>(
    result: Signal<Option<Result<T, ConsoleError>>>,
    flashed: Resource<Result<Option<T>, ConsoleError>>,
    show: fn(T) -> V,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    view! {
        {move || match result.get() {
            Some(Ok(issued)) => show(issued).into_any(),
            _ => ().into_any(),
        }}
        <Suspense>
            {move || Suspend::new(async move {
                match flashed.await {
                    Ok(Some(issued)) => show(issued).into_any(),
                    _ => ().into_any(),
                }
            })}
        </Suspense>
    }
}

/// A `<select>` filter of a GET form: "any" first, then `options` as `(value, label)`.
#[component]
pub fn FilterSelect(
    label: &'static str,
    name: &'static str,
    any: &'static str,
    selected: String,
    options: Vec<(String, String)>,
) -> impl IntoView {
    view! {
        <label>
            {label}
            <select name=name>
                <option value="">{any}</option>
                {options
                    .into_iter()
                    .map(|(value, text)| {
                        let is_selected = value == selected;
                        view! {
                            <option value=value selected=is_selected>
                                {text}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        </label>
    }
}

/// A secret shown this once (a new key or token), with a button that copies it.
#[component]
pub fn OneTimeSecret(
    /// "Key" or "Token".
    what: &'static str,
    name: String,
    secret: String,
    testid: &'static str,
    secret_testid: &'static str,
    copy_testid: &'static str,
) -> impl IntoView {
    let element_id = format!("{testid}-value");
    view! {
        <section class="card secret" data-testid=testid>
            <h2>{what} " “" {name} "” created"</h2>
            <p class="notice warn">
                <strong>"Copy it now. You will not see this again."</strong>
                " Tollgate keeps only a hash of the secret."
            </p>
            <code id=element_id.clone() data-testid=secret_testid>{secret}</code>
            <button type="button" data-testid=copy_testid data-copy-from=element_id>
                "Copy"
            </button>
        </section>
    }
}

/// The outcome of the latest submission of a form: nothing, the error, or `success`.
#[component]
pub fn FormResult<T: Clone + Send + Sync + 'static>(
    result: Signal<Option<Result<T, ConsoleError>>>,
    success: &'static str,
) -> impl IntoView {
    move || match result.get() {
        Some(Ok(_)) => view! { <p class="notice ok" role="status">{success}</p> }.into_any(),
        Some(Err(error)) => view! { <ErrorNotice error /> }.into_any(),
        None => ().into_any(),
    }
}
