use super::{fix_for, get_usage, list_usage, RequestDetail, UsageRecord};
use crate::auth::Viewer;
use crate::error::{AppError, ConsoleError};
use crate::keys::list_keys;
use crate::layout::{CopyButton, CopyableId, ErrorNotice, FilterSelect};
use crate::money::format_credits;
use crate::timefmt::format_utc;
use crate::users::PlatformRole;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// A thing by its name (and `children`, such as a key's prefix), with its id as secondary,
/// copyable text; a dash when there is none.
#[component]
fn Named(
    name: Option<String>,
    id: Option<String>,
    testid: &'static str,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let Some(id) = id else { return view! { <span data-testid=testid>"—"</span> }.into_any() };
    let name = name.unwrap_or_else(|| "(name not shown)".to_owned());
    view! {
        <span class="named">
            <span data-testid=testid>{name}</span>
            {children.map(|children| children())}
            <span class="copyable muted">
                <code>{id.clone()}</code>
                <CopyButton text=id />
            </span>
        </span>
    }
    .into_any()
}

/// A plain GET form: works without JavaScript.
#[component]
fn RequestSearch(action: &'static str, value: String) -> impl IntoView {
    view! {
        <form method="get" action=action class="inline-form search" role="search">
            <label>
                "Request id" <input type="search" name="id" value=value required placeholder="req_…" size="40" />
            </label>
            <button type="submit">"Find request"</button>
        </form>
    }
}

/// Loads one request by id and shows its detail (or why it cannot be shown).
#[component]
fn RequestLookup(request_id: String) -> impl IntoView {
    let record = Resource::new(move || request_id.clone(), get_usage);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match record.await {
                    Ok(detail) => view! { <UsageDetail detail /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Everything the console knows about one request, with names beside the ids.
#[component]
pub fn UsageDetail(detail: RequestDetail) -> impl IntoView {
    let RequestDetail { record, names } = detail;
    let channel_names = names.channel_names.clone();
    let fix = fix_for(record.status, record.error_layer.as_deref(), record.error_code.as_deref());
    let ok = (200..400).contains(&record.status);
    let dash = || "—".to_owned();
    view! {
        <section class="card usage-detail" data-testid="usage-detail">
            <h2>
                <span class=if ok { "badge status-enabled" } else { "badge status-revoked" }>{record.status}</span>
                " " {record.route.clone()} " · " {record.model.clone().unwrap_or_else(dash)}
            </h2>
            <p>"Request " <CopyableId id=record.request_id.clone() /></p>
            <p class=if ok { "notice ok" } else { "notice warn" } data-testid="usage-fix">
                <strong>"What to do: "</strong>
                {fix}
            </p>
            <dl class="facts">
                <dt>"Time"</dt>
                <dd>{format_utc(record.created_at)}</dd>
                <dt>"Error code"</dt>
                <dd data-testid="usage-error-code">{record.error_code.clone().unwrap_or_else(dash)}</dd>
                <dt>"Failing layer"</dt>
                <dd>{record.error_layer.clone().unwrap_or_else(dash)}</dd>
                <dt>"Message"</dt>
                <dd>{record.error_message.clone().unwrap_or_else(dash)}</dd>
                <dt>"Account"</dt>
                <dd>
                    <Named name=names.account_name id=record.account_id.clone() testid="usage-account" />
                </dd>
                <dt>"Key"</dt>
                <dd>
                    <Named name=names.key_name id=record.key_id.clone() testid="usage-key">
                        {names.key_prefix.map(|prefix| view! { <code data-testid="usage-key-prefix">{prefix}</code> })}
                    </Named>
                </dd>
                {names
                    .key_owner_email
                    .map(|email| {
                        view! {
                            <dt>"Key owner"</dt>
                            <dd data-testid="usage-key-owner">{email}</dd>
                        }
                    })}
                <dt>"Channel"</dt>
                <dd>
                    <Named name=names.channel_name id=record.channel_id.clone() testid="usage-channel" />
                </dd>
                <dt>"Client request id"</dt>
                <dd>{record.client_request_id.clone().unwrap_or_else(dash)}</dd>
                <dt>"Prompt tokens (uncached)"</dt>
                <dd data-testid="usage-prompt-tokens">{record.prompt_tokens}</dd>
                <dt>"Cache read tokens"</dt>
                <dd data-testid="usage-cache-read-tokens">{record.cache_read_tokens}</dd>
                <dt>"Cache write tokens"</dt>
                <dd data-testid="usage-cache-write-tokens">{record.cache_write_tokens}</dd>
                <dt>"Completion tokens"</dt>
                <dd data-testid="usage-completion-tokens">{record.completion_tokens}</dd>
                <dt>"Reasoning tokens"</dt>
                <dd data-testid="usage-reasoning-tokens">
                    {record.reasoning_tokens} <span class="muted">" (part of completion)"</span>
                </dd>
                <dt>"Cost"</dt>
                <dd>{format_credits(record.cost)} " credits"</dd>
                {(record.overrun > 0)
                    .then(|| {
                        view! {
                            <dt>"Not charged"</dt>
                            <dd data-testid="usage-overrun">
                                {format_credits(record.overrun)}
                                " credits the upstream reported beyond what the request held"
                            </dd>
                        }
                    })}
                <dt>"Latency"</dt>
                <dd>
                    {record.latency_ms} " ms"
                    {record.upstream_latency_ms.map(|ms| format!(" ({ms} ms upstream)"))}
                </dd>
                <dt>"Stream"</dt>
                <dd>{if record.stream { "yes" } else { "no" }}</dd>
                <dt>"Client dialect"</dt>
                <dd data-testid="usage-client-dialect">{record.client_dialect.clone().unwrap_or_else(dash)}</dd>
                <dt>"Channel dialect"</dt>
                <dd data-testid="usage-channel-dialect">{record.channel_dialect.clone().unwrap_or_else(dash)}</dd>
            </dl>
            <h3>"Upstream attempts"</h3>
            {if record.attempts.is_empty() {
                view! { <p class="empty">"No upstream was tried: the gateway answered by itself."</p> }.into_any()
            } else {
                view! {
                    <table class="table" data-testid="attempts-table">
                        <thead>
                            <tr>
                                <th scope="col">"#"</th>
                                <th scope="col">"Channel"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col" class="num">"Latency (ms)"</th>
                                <th scope="col">"Upstream request id"</th>
                                <th scope="col">"Error"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {record
                                .attempts
                                .into_iter()
                                .enumerate()
                                .map(|(index, attempt)| {
                                    view! {
                                        <tr>
                                            <td>{index + 1}</td>
                                            <td>
                                                {channel_names.get(&attempt.channel_id).cloned()} " "
                                                <code class="muted">{attempt.channel_id}</code>
                                            </td>
                                            <td>
                                                {attempt
                                                    .status
                                                    .map(|s| s.to_string())
                                                    .unwrap_or_else(|| "no answer".into())}
                                            </td>
                                            <td class="num">{attempt.latency_ms}</td>
                                            <td>
                                                <code>{attempt.upstream_request_id.unwrap_or_default()}</code>
                                            </td>
                                            <td>{attempt.error.unwrap_or_default()}</td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                    .into_any()
            }}
        </section>
    }
}

/// The current account's usage: a request id search, filters and keyset pagination,
/// all through GET links and forms.
#[component]
pub fn UsagePage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).unwrap_or_default();
    let Some(account_id) = expect_context::<Viewer>().current_account else {
        return view! {
            <Title text="Usage" />
            <h1>"Usage"</h1>
            <p class="empty">"You are not a member of any account yet."</p>
        }
        .into_any();
    };
    let searched = param("id");
    let filters = move || ["key", "model", "status", "error_code", "from", "to"].map(|name| (name, param(name)));
    let list_account = account_id.clone();
    let rows = Resource::new(
        move || (filters(), param("cursor")),
        move |(filters, cursor)| {
            let [key, model, status, error_code, from, to] = filters.map(|(_, value)| Some(value));
            list_usage(list_account.clone(), key, model, status, error_code, from, to, Some(cursor))
        },
    );
    let keys = Resource::new(|| (), move |_| list_keys(account_id.clone()));
    view! {
        <Title text="Usage" />
        <h1>"Usage"</h1>
        <RequestSearch action="/usage" value=searched.clone() />
        {(!searched.trim().is_empty()).then(|| view! { <RequestLookup request_id=searched.trim().to_owned() /> })}
        <form method="get" action="/usage" class="inline-form filters" data-testid="usage-filters">
            <Suspense>
                {move || Suspend::new(async move {
                    let options = keys.await.map(|list| list.keys).unwrap_or_default();
                    let options = options.into_iter().map(|key| (key.id, key.name)).collect();
                    view! { <FilterSelect label="Key" name="key" any="Any key" selected=param("key") options /> }
                })}
            </Suspense>
            <label>"Model" <input type="text" name="model" value=param("model") size="12" /></label>
            <label>
                "Status" <input type="text" name="status" value=param("status") placeholder="4xx or 429" size="8" />
            </label>
            <label>"Error code" <input type="text" name="error_code" value=param("error_code") size="18" /></label>
            <label>"From (UTC)" <input type="datetime-local" name="from" value=param("from") /></label>
            <label>"To (UTC)" <input type="datetime-local" name="to" value=param("to") /></label>
            <button type="submit">"Filter"</button>
            <a href="/usage">"Clear"</a>
        </form>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(page) if page.rows.is_empty() => {
                        view! { <p class="empty">"No requests match."</p> }.into_any()
                    }
                    Ok(page) => {
                        let older = page
                            .next_cursor
                            .map(|cursor| {
                                let query = filters()
                                    .into_iter()
                                    .filter(|(_, value)| !value.is_empty())
                                    .map(|(name, value)| format!("{name}={}", encode(&value)))
                                    .chain([format!("cursor={}", encode(&cursor))])
                                    .collect::<Vec<_>>()
                                    .join("&");
                                view! {
                                    <p class="pager">
                                        <a href=format!("/usage?{query}") data-testid="older">"Older →"</a>
                                    </p>
                                }
                            });
                        view! {
                            <UsageTable rows=page.rows />
                            {older}
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

/// Percent-encodes a query value.
pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
fn UsageTable(rows: Vec<UsageRecord>) -> impl IntoView {
    view! {
        <table class="table" data-testid="usage-table">
            <thead>
                <tr>
                    <th scope="col">"Time"</th>
                    <th scope="col">"Request id"</th>
                    <th scope="col">"Model"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Error code"</th>
                    <th scope="col" class="num">"Tokens"</th>
                    <th scope="col" class="num">"Cost (credits)"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|row| {
                        let tokens = token_summary(&row);
                        view! {
                            <tr>
                                <td>{format_utc(row.created_at)}</td>
                                <td>
                                    <a href=format!("/usage/{}", row.request_id)>
                                        <code>{row.request_id.clone()}</code>
                                    </a>
                                </td>
                                <td>{row.model.unwrap_or_default()}</td>
                                <td>{row.status}</td>
                                <td>{row.error_code.unwrap_or_default()}</td>
                                <td class="num">{tokens}</td>
                                <td class="num">{format_credits(row.cost)}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// A row's tokens for the list: all of them, and how many of those the upstream's cache
/// read or wrote, where it did (they are priced apart).
fn token_summary(row: &UsageRecord) -> String {
    let total = row.prompt_tokens + row.cache_read_tokens + row.cache_write_tokens + row.completion_tokens;
    let cached: Vec<String> = [(row.cache_read_tokens, "cache read"), (row.cache_write_tokens, "cache write")]
        .into_iter()
        .filter(|(count, _)| *count != 0)
        .map(|(count, what)| format!("{count} {what}"))
        .collect();
    if cached.is_empty() {
        total.to_string()
    } else {
        format!("{total} (incl. {})", cached.join(", "))
    }
}

/// `/usage/:request_id`: one request of the viewer's accounts.
#[component]
pub fn UsageDetailPage() -> impl IntoView {
    let params = use_params_map();
    let request_id = params.read_untracked().get("request_id").unwrap_or_default();
    view! {
        <Title text="Request" />
        <h1>"Request"</h1>
        <p>
            <a href="/usage">"← All requests"</a>
        </p>
        <RequestLookup request_id />
    }
}

/// Admin and support: any request id, across tenants (every lookup is audited).
#[component]
pub fn SupportPage() -> impl IntoView {
    let role = expect_context::<Viewer>().user.role;
    if role == PlatformRole::User {
        return view! { <ErrorNotice error=ConsoleError::local(AppError::Forbidden) /> }.into_any();
    }
    let query = use_query_map();
    let searched = query.read_untracked().get("id").unwrap_or_default();
    view! {
        <Title text="Support lookup" />
        <h1>"Support lookup"</h1>
        <p class="muted">"Paste a request id from any tenant. Every lookup is recorded in the audit log."</p>
        <RequestSearch action="/support" value=searched.clone() />
        {(!searched.trim().is_empty()).then(|| view! { <RequestLookup request_id=searched.trim().to_owned() /> })}
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::{token_summary, UsageRecord};

    #[test]
    fn the_token_cell_names_cached_tokens_only_where_there_are_some() {
        let plain = UsageRecord { prompt_tokens: 12, completion_tokens: 6, ..UsageRecord::default() };
        assert_eq!(token_summary(&plain), "18");
        let read = UsageRecord { prompt_tokens: 200, cache_read_tokens: 800, completion_tokens: 200, ..plain.clone() };
        assert_eq!(token_summary(&read), "1200 (incl. 800 cache read)");
        let both = UsageRecord { cache_write_tokens: 100, ..read };
        assert_eq!(token_summary(&both), "1300 (incl. 800 cache read, 100 cache write)");
    }
}
