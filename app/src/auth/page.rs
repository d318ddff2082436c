use super::SignIn;
use crate::layout::ErrorNotice;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The sign-in form; a plain HTML form, so it works without JavaScript too.
#[component]
pub fn SignInPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let error = move || sign_in.value().get().and_then(Result::err);
    // Set by the redirect after a password was set through a reset link.
    let was_reset = use_query_map().read_untracked().get("password").as_deref() == Some("reset");
    view! {
        <Title text="Sign in" />
        <main class="centered">
            <section class="card sign-in">
                <h1>"Sign in to Tollgate"</h1>
                {was_reset
                    .then(|| {
                        view! {
                            <p class="notice ok" role="status" data-testid="password-reset-done">
                                "Your new password is set. Sign in with it."
                            </p>
                        }
                    })}
                {move || error().map(|error| view! { <ErrorNotice error /> })}
                <ActionForm action=sign_in>
                    <label for="email">"Email"</label>
                    <input id="email" type="email" name="email" autocomplete="username" required />
                    <label for="password">"Password"</label>
                    <input
                        id="password"
                        type="password"
                        name="password"
                        autocomplete="current-password"
                        required
                    />
                    <button type="submit" data-testid="sign-in-submit" disabled=move || sign_in.pending().get()>
                        "Sign in"
                    </button>
                </ActionForm>
            </section>
        </main>
    }
}
