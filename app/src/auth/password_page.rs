use super::{ChangePassword, ResetPassword, Viewer};
use crate::layout::ErrorNotice;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The signed-in user's own page: who they are, and changing their password.
#[component]
pub fn ProfilePage() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let change = ServerAction::<ChangePassword>::new();
    let error = move || change.value().get().and_then(Result::err);
    // Set by the redirect after a change, so the sentence shows without JavaScript too.
    let changed = move || use_query_map().read().get("password").as_deref() == Some("changed");
    view! {
        <Title text="Profile" />
        <h1>"Profile"</h1>
        <p class="muted">{viewer.user.email.clone()} " · " {viewer.user.role.as_str()}</p>
        <section class="card">
            <h2>"Change password"</h2>
            <Show when=changed>
                <p class="notice ok" role="status" data-testid="password-changed">
                    "Password changed. Your other sessions were signed out; this one carries on."
                </p>
            </Show>
            {move || error().map(|error| view! { <ErrorNotice error /> })}
            <ActionForm action=change attr:data-testid="change-password-form">
                <label for="current_password">"Current password"</label>
                <input
                    id="current_password"
                    type="password"
                    name="current_password"
                    autocomplete="current-password"
                    required
                />
                <NewPasswordField />
                <button type="submit" disabled=move || change.pending().get()>
                    "Change password"
                </button>
            </ActionForm>
        </section>
    }
}

/// Where a one-time reset link leads: set a new password without signing in.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let reset = ServerAction::<ResetPassword>::new();
    let error = move || reset.value().get().and_then(Result::err);
    let token = use_query_map().read_untracked().get("token").unwrap_or_default();
    view! {
        <Title text="Set a new password" />
        <main class="centered">
            <section class="card sign-in">
                <h1>"Set a new password"</h1>
                {move || error().map(|error| view! { <ErrorNotice error /> })}
                <ActionForm action=reset attr:data-testid="reset-password-form">
                    <input type="hidden" name="token" value=token />
                    <NewPasswordField />
                    <button type="submit" disabled=move || reset.pending().get()>
                        "Set password"
                    </button>
                </ActionForm>
                <p class="muted">"The link works once. Setting the password signs you out everywhere."</p>
            </section>
        </main>
    }
}

/// The new password, as the server requires it (at least 12 characters).
#[component]
fn NewPasswordField() -> impl IntoView {
    view! {
        <label for="new_password">"New password (at least 12 characters)"</label>
        <input id="new_password" type="password" name="new_password" autocomplete="new-password" minlength="12" required />
    }
}
