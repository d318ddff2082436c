use super::SignIn;
use crate::layout::ErrorNotice;
use leptos::prelude::*;
use leptos_meta::Title;

/// The sign-in form; a plain HTML form, so it works without JavaScript too.
#[component]
pub fn SignInPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let error = move || sign_in.value().get().and_then(Result::err);
    view! {
        <Title text="Sign in" />
        <main class="centered">
            <section class="card sign-in">
                <h1>"Sign in to Tollgate"</h1>
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
