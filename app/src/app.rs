//! The document shell and the console's routes.

use crate::accounts::{AccountPage, AccountsPage};
use crate::audit::AuditLogPage;
use crate::auth::{ProfilePage, ResetPasswordPage, SignInPage};
use crate::billing::BalancePage;
use crate::dashboard::DashboardPage;
use crate::keys::KeysPage;
use crate::layout::ConsoleLayout;
use crate::models::{ChannelsPage, ModelsPage};
use crate::tokens::TokensPage;
use crate::usage::{SupportPage, UsageDetailPage, UsageLogPage};
use crate::users::UsersPage;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// A gate, inline so the console needs no extra request for its icon.
const FAVICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%232851c8'/%3E%3Cpath d='M4 12V5h8v7M4 8h8' stroke='white' stroke-width='1.5' fill='none'/%3E%3C/svg%3E";

/// The HTML document the server renders around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href=FAVICON />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <script src="/pkg/copy.js" defer nonce=leptos::nonce::use_nonce()></script>
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Scripts run only with this response's nonce (the hydration script carries it, and what
/// it imports is trusted through `'strict-dynamic'`); nothing may frame the console.
#[cfg(feature = "ssr")]
fn set_content_security_policy() {
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    );
    if let Ok(policy) = axum::http::HeaderValue::from_str(&policy) {
        response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, policy);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="tollgate" href="/pkg/tollgate.css" />
        <Title formatter=|page: String| format!("{page} · Tollgate") />
        <Router>
            // Async rendering: pages wait for their data on the server, so redirects
            // (not signed in) and plain HTML (no JavaScript) both work.
            <Routes fallback=|| view! { <NotFound /> }>
                <Route path=path!("/sign-in") view=SignInPage ssr=SsrMode::Async />
                <Route path=path!("/reset-password") view=ResetPasswordPage ssr=SsrMode::Async />
                <ParentRoute path=path!("") view=ConsoleLayout ssr=SsrMode::Async>
                    <Route path=path!("") view=DashboardPage />
                    <Route path=path!("/keys") view=KeysPage />
                    <Route path=path!("/models") view=ModelsPage />
                    <Route path=path!("/usage") view=UsageLogPage />
                    <Route path=path!("/usage/:request_id") view=UsageDetailPage />
                    <Route path=path!("/support") view=SupportPage />
                    <Route path=path!("/balance") view=BalancePage />
                    <Route path=path!("/profile") view=ProfilePage />
                    <Route path=path!("/admin/users") view=UsersPage />
                    <Route path=path!("/admin/accounts") view=AccountsPage />
                    <Route path=path!("/admin/accounts/:id") view=AccountPage />
                    <Route path=path!("/admin/tokens") view=TokensPage />
                    <Route path=path!("/admin/audit") view=AuditLogPage />
                    <Route path=path!("/admin/channels") view=ChannelsPage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <main class="centered">
            <h1>"Page not found"</h1>
            <p>
                <a href="/">"Back to the dashboard"</a>
            </p>
        </main>
    }
}
