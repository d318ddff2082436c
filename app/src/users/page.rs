use super::{list_users, ChangeUser, CreateUser, PlatformRole, Status, UserView};
use crate::layout::{AdminOnly, ErrorNotice, FormResult};
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
    let users = Resource::new(move || (create.version().get(), change.version().get()), |_| list_users());
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
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(users) => view! { <UserTable users change /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn UserTable(users: Vec<UserView>, change: ServerAction<ChangeUser>) -> impl IntoView {
    view! {
        <table class="table" data-testid="users-table">
            <thead>
                <tr>
                    <th scope="col">"Email"</th>
                    <th scope="col">"Role and status"</th>
                </tr>
            </thead>
            <tbody>
                {users
                    .into_iter()
                    .map(|user| {
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
