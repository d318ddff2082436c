use super::{list_users, ChangeUser, CreateUser, PlatformRole, Status, UserView};
use crate::auth::{take_new_reset_link, CreateResetLink, IssuedResetLink};
use crate::layout::{AdminOnly, CopyButton, ErrorNotice, FormResult, IssuedSecret};
use crate::timefmt::format_utc;
use leptos::prelude::*;
use leptos_meta::Title;

/// Admin: create users, change their platform role, suspend them.
#[component]
pub fn UsersPage() -> impl IntoView {
    view! { <AdminOnly page=UsersPageContent /> }
}

#[component]
fn UsersPageContent() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let change = ServerAction::<ChangeUser>::new();
    let reset = ServerAction::<CreateResetLink>::new();
    let users = Resource::new(move || (create.version().get(), change.version().get()), |_| list_users());
    // A link made without JavaScript comes back through the session, once.
    let flashed = Resource::new(|| (), |_| take_new_reset_link());
    view! {
        <Title text="Users" />
        <h1>"Users"</h1>
        <section class="card">
            <h2>"New user"</h2>
            <FormResult result=create.value().into() success="User created." />
            <ActionForm action=create attr:class="inline-form">
                <label>"Email" <input type="email" name="email" required /></label>
                <label>"Password" <input type="password" name="password" minlength="12" required /></label>
                <label>"Role" <RoleSelect name="role" selected=PlatformRole::User /></label>
                <button type="submit">"Create user"</button>
            </ActionForm>
        </section>
        <FormResult result=change.value().into() success="User updated." />
        <IssuedSecret result=reset.value().into() flashed show=reset_link />
        {move || reset.value().get().and_then(Result::err).map(|error| view! { <ErrorNotice error /> })}
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(users) => view! { <UserTable users change reset /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn UserTable(
    users: Vec<UserView>,
    change: ServerAction<ChangeUser>,
    reset: ServerAction<CreateResetLink>,
) -> impl IntoView {
    view! {
        <table class="table" data-testid="users-table">
            <thead>
                <tr>
                    <th scope="col">"Email"</th>
                    <th scope="col">"Role and status"</th>
                    <th scope="col">"Password"</th>
                </tr>
            </thead>
            <tbody>
                {users
                    .into_iter()
                    .map(|user| {
                        let user_id = user.id.clone();
                        view! {
                            <tr>
                                <td>{user.email.clone()}</td>
                                <td>
                                    <ActionForm action=change attr:class="row-form">
                                        <input type="hidden" name="id" value=user.id.clone() />
                                        <RoleSelect name="role" selected=user.role />
                                        <select name="status" aria-label="Status">
                                            {Status::ALL
                                                .iter()
                                                .map(|status| {
                                                    view! {
                                                        <option value=status.as_str() selected=*status == user.status>
                                                            {status.as_str()}
                                                        </option>
                                                    }
                                                })
                                                .collect_view()}
                                        </select>
                                        <button type="submit">"Save"</button>
                                    </ActionForm>
                                </td>
                                <td>
                                    <ActionForm action=reset attr:class="row-form">
                                        <input type="hidden" name="user_id" value=user_id />
                                        <button type="submit">"Reset link"</button>
                                    </ActionForm>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn RoleSelect(name: &'static str, selected: PlatformRole) -> impl IntoView {
    view! {
        <select name=name aria-label="Platform role">
            {PlatformRole::ALL
                .iter()
                .map(|role| {
                    view! {
                        <option value=role.as_str() selected=*role == selected>
                            {role.as_str()}
                        </option>
                    }
                })
                .collect_view()}
        </select>
    }
}

/// A reset link just issued, shown this once: the admin hands it to the user.
fn reset_link(issued: IssuedResetLink) -> impl IntoView {
    view! {
        <section class="card secret" data-testid="new-reset-link">
            <h2>"Password reset link for " {issued.email}</h2>
            <p class="notice warn">
                <strong>"Copy it now. You will not see this again."</strong>
                " It works once, until " {format_utc(issued.expires_at)}
                ", and using it signs the user out everywhere."
            </p>
            <code data-testid="reset-link">{issued.link.clone()}</code>
            <CopyButton text=issued.link />
        </section>
    }
}
