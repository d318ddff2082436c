use super::{list_audit, AuditEntry};
use crate::accounts::list_accounts;
use crate::layout::{AdminOnly, ErrorNotice, FilterSelect};
use crate::timefmt::format_utc;
use crate::usage::encode;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

const PATH: &str = "/admin/audit";
/// The query parameters the filter form sends, in the order `list_audit` takes them.
const FILTERS: [&str; 5] = ["action", "actor", "account", "from", "to"];

/// `/admin/audit?name=value&…` for the filters that have a value, and `extra` after them.
fn audit_href(filters: &[(&str, String)], extra: Option<(&str, &str)>) -> String {
    let query = filters
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .chain(extra)
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    if query.is_empty() {
        PATH.to_owned()
    } else {
        format!("{PATH}?{query}")
    }
}

/// Admin: every change, newest first, filtered and paged through GET links and forms
/// (so it works without JavaScript).
#[component]
pub fn AuditLogPage() -> impl IntoView {
    view! { <AdminOnly page=AuditLog /> }
}

#[component]
fn AuditLog() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).unwrap_or_default();
    let filters = move || FILTERS.map(|name| (name, param(name)));
    let entries = Resource::new(
        move || (filters(), param("cursor")),
        |(filters, cursor)| {
            let [action, actor, account, from, to] = filters.map(|(_, value)| Some(value));
            list_audit(action, actor, account, from, to, Some(cursor))
        },
    );
    let accounts = Resource::new(|| (), |_| list_accounts());
    view! {
        <Title text="Audit log" />
        <h1>"Audit log"</h1>
        <p class="muted">
            "Every change made in the console or through the management API: who, what, from where, and the value before and after."
        </p>
        <form method="get" action=PATH class="inline-form filters" data-testid="audit-filters">
            <label>
                "Action" <input type="text" name="action" value=param("action") placeholder="e.g. key.revoke" size="14" />
            </label>
            <label>
                "Actor" <input type="text" name="actor" value=param("actor") placeholder="email or user id" size="22" />
            </label>
            <Suspense>
                {move || Suspend::new(async move {
                    let options = accounts.await.unwrap_or_default();
                    let options = options.into_iter().map(|account| (account.id, account.name)).collect();
                    view! { <FilterSelect label="Account" name="account" any="Any account" selected=param("account") options /> }
                })}
            </Suspense>
            <label>"From (UTC)" <input type="datetime-local" name="from" value=param("from") /></label>
            <label>"To (UTC)" <input type="datetime-local" name="to" value=param("to") /></label>
            <button type="submit">"Filter"</button>
            <a href=PATH>"Clear"</a>
        </form>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let filtered = filters().iter().any(|(_, value)| !value.is_empty());
                match entries.await {
                    Ok(page) if page.entries.is_empty() => {
                        let sentence = if filtered {
                            "No changes match these filters."
                        } else {
                            "Nothing has been changed yet."
                        };
                        view! { <p class="empty" data-testid="audit-empty">{sentence}</p> }.into_any()
                    }
                    Ok(page) => {
                        let older = page
                            .next_cursor
                            .map(|cursor| {
                                view! {
                                    <a href=audit_href(&filters(), Some(("cursor", &cursor))) data-testid="older">
                                        "Older →"
                                    </a>
                                }
                            });
                        let newest = (!param("cursor").is_empty())
                            .then(|| view! { <a href=audit_href(&filters(), None)>"← Newest"</a> });
                        view! {
                            <AuditTable entries=page.entries />
                            <p class="pager">{newest} " " {older}</p>
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AuditTable(entries: Vec<AuditEntry>) -> impl IntoView {
    view! {
        <table class="table audit-table" data-testid="audit-table">
            <thead>
                <tr>
                    <th scope="col">"Time"</th>
                    <th scope="col">"Actor"</th>
                    <th scope="col">"Action"</th>
                    <th scope="col">"Target"</th>
                    <th scope="col">"Account"</th>
                    <th scope="col">"IP"</th>
                    <th scope="col">"Change"</th>
                </tr>
            </thead>
            <tbody>{entries.into_iter().map(|entry| view! { <EntryRow entry /> }).collect_view()}</tbody>
        </table>
    }
}

/// One change; its actor and action link to everything else they did or were.
#[component]
fn EntryRow(entry: AuditEntry) -> impl IntoView {
    let actor = match (entry.actor_email.clone(), entry.actor_id.clone()) {
        (Some(email), _) => {
            let href = audit_href(&[("actor", email.clone())], None);
            view! { <a href=href>{email}</a> }.into_any()
        }
        (None, Some(id)) => view! { <code>{id}</code> }.into_any(),
        (None, None) => view! { <span class="muted">"system"</span> }.into_any(),
    };
    let account = entry.account_name.clone().or(entry.account_id.clone()).unwrap_or_else(|| "—".into());
    let action_href = audit_href(&[("action", entry.action.clone())], None);
    view! {
        <tr data-action=entry.action.clone()>
            <td class="nowrap">{format_utc(entry.created_at)}</td>
            <td data-testid="audit-actor">{actor}</td>
            <td>
                <a href=action_href>
                    <code>{entry.action.clone()}</code>
                </a>
            </td>
            <td>
                {entry.target_type.clone()} " " <code class="id">{entry.target_id.clone()}</code>
            </td>
            <td>{account}</td>
            <td>{entry.ip.clone().unwrap_or_else(|| "—".into())}</td>
            <td>
                <Change before=entry.before after=entry.after />
            </td>
        </tr>
    }
}

/// The value before and after, folded away until asked for (a `<details>`: no script).
#[component]
fn Change(before: Option<serde_json::Value>, after: Option<serde_json::Value>) -> impl IntoView {
    if before.is_none() && after.is_none() {
        return view! { <span class="muted">"—"</span> }.into_any();
    }
    let pretty = |value: Option<serde_json::Value>| match value {
        Some(value) => serde_json::to_string_pretty(&value).unwrap_or_default(),
        None => "—".to_owned(),
    };
    view! {
        <details class="audit-change">
            <summary>"Before / after"</summary>
            <h4>"Before"</h4>
            <pre data-testid="audit-before">{pretty(before)}</pre>
            <h4>"After"</h4>
            <pre data-testid="audit-after">{pretty(after)}</pre>
        </details>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::audit_href;

    #[test]
    fn links_keep_the_filters_given_and_encode_them() {
        assert_eq!(audit_href(&[("action", String::new())], None), "/admin/audit");
        let filters = [("action", "user.create".to_owned()), ("actor", "a+b@x.test".to_owned())];
        assert_eq!(
            audit_href(&filters, Some(("cursor", "17_0193"))),
            "/admin/audit?action=user.create&actor=a%2Bb%40x.test&cursor=17_0193"
        );
    }
}
