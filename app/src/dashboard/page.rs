use super::{get_dashboard, Dashboard, ExpiringKey, HourTraffic, Money, Traffic, LAYERS};
use crate::accounts::list_accounts;
use crate::auth::Viewer;
use crate::error::Layer;
use crate::layout::ErrorNotice;
use crate::money::format_credits;
use crate::timefmt::{format_utc, format_utc_time, HOUR_MS};
use crate::users::PlatformRole;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The dashboard of the current account, or of `?account=` (admins and support pick any).
#[component]
pub fn DashboardPage() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let chosen = use_query_map().read_untracked().get("account").filter(|id| !id.trim().is_empty());
    let content = match chosen.or(viewer.current_account.clone()) {
        Some(account_id) => view! { <AccountDashboard account_id /> }.into_any(),
        None if viewer.user.role != PlatformRole::User => view! { <AccountPicker /> }.into_any(),
        None => view! {
            <section class="card empty">
                <p>"You do not belong to any account yet. Ask an account owner to invite you: invitations show up here."</p>
            </section>
        }
        .into_any(),
    };
    view! {
        <Title text="Dashboard" />
        <h1>"Dashboard"</h1>
        {content}
    }
}

/// Admins and support belong to no account of their own: they choose whose dashboard to see.
#[component]
fn AccountPicker() -> impl IntoView {
    let accounts = Resource::new(|| (), |_| list_accounts());
    view! {
        <section class="card" data-testid="account-picker">
            <p>"You are not a member of any account. Pick an account to see its dashboard."</p>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match accounts.await {
                        Ok(accounts) if accounts.is_empty() => {
                            view! { <p class="empty">"There are no accounts yet."</p> }.into_any()
                        }
                        Ok(accounts) => {
                            view! {
                                <form method="get" action="/" class="inline-form">
                                    <label>
                                        "Account"
                                        <select name="account">
                                            {accounts
                                                .into_iter()
                                                .map(|account| view! { <option value=account.id>{account.name}</option> })
                                                .collect_view()}
                                        </select>
                                    </label>
                                    <button type="submit">"Show dashboard"</button>
                                </form>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <ErrorNotice error /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn AccountDashboard(account_id: String) -> impl IntoView {
    let dashboard = Resource::new(move || account_id.clone(), get_dashboard);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match dashboard.await {
                    Ok(dashboard) => {
                        view! {
                            <AccountSummary dashboard=dashboard.clone() />
                            <TrafficCard traffic=dashboard.traffic />
                            <ExpiringKeys keys=dashboard.expiring_keys now=dashboard.now />
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
fn AccountSummary(dashboard: Dashboard) -> impl IntoView {
    let viewer_role = expect_context::<Viewer>().user.role;
    let standing = match dashboard.role {
        Some(role) => format!("You are {role} of this account."),
        None => format!("You are looking at this account as {viewer_role}."),
    };
    let money = dashboard.money.clone();
    view! {
        <section class="card" data-testid="account-summary">
            <h2>{dashboard.account_name.clone()}</h2>
            <p class="muted">{standing}</p>
            <dl class="stats">
                {money.clone().map(|money| view! { <MoneyStats money /> })}
                <div>
                    <dt>"Status"</dt>
                    <dd>{dashboard.account_status.as_str()}</dd>
                </div>
            </dl>
            {match money {
                Some(Money { balance, .. }) if balance.low_balance => {
                    view! {
                        <p class="notice warn" role="status" data-testid="low-balance">
                            "The available balance is below this account's low-balance threshold of "
                            {format_credits(balance.low_balance_threshold)}
                            " credits: top up soon, or requests will be refused with insufficient_balance."
                        </p>
                    }
                        .into_any()
                }
                Some(_) => ().into_any(),
                None => view! { <p class="muted">"Balance and spend are shown to the account's owners."</p> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn MoneyStats(money: Money) -> impl IntoView {
    view! {
        <div>
            <dt>"Balance"</dt>
            <dd data-testid="balance">{format_credits(money.balance.balance)} " credits"</dd>
        </div>
        <div>
            <dt>"Spent today (UTC)"</dt>
            <dd data-testid="spend-today">{format_credits(money.spend.today)} " credits"</dd>
        </div>
        <div>
            <dt>"Spent this month (UTC)"</dt>
            <dd data-testid="spend-month">{format_credits(money.spend.this_month)} " credits"</dd>
        </div>
    }
}

/// Requests per hour: the chart, its legend with the 24-hour totals, and the same figures
/// as a table for screen readers (and browsers without CSS).
#[component]
fn TrafficCard(traffic: Traffic) -> impl IntoView {
    let total = traffic.total.clone();
    let body = if total.requests() == 0 {
        view! { <p class="empty" data-testid="no-traffic">"No requests in the last 24 hours."</p> }.into_any()
    } else {
        view! {
            <p data-testid="traffic-summary">
                {total.requests()} " requests, " {total.errors_total()} " refused ("
                {percent(total.errors_total(), total.requests())} " error rate)."
            </p>
            <TrafficChart traffic=traffic.clone() />
            <Legend total />
            <TrafficTable traffic />
        }
        .into_any()
    };
    view! {
        <section class="card traffic" data-testid="traffic">
            <h2>"Requests in the last 24 hours"</h2>
            {body}
        </section>
    }
}

/// `part` of `whole` as a percentage with one decimal, e.g. `12.5 %`.
fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "0 %".into();
    }
    let tenths = (part * 1000 + whole / 2) / whole;
    format!("{}.{} %", tenths / 10, tenths % 10)
}

/// What a bar segment counts: answered requests (`None`) or one layer's refusals.
type Outcome = Option<Layer>;

fn outcomes() -> impl Iterator<Item = Outcome> {
    std::iter::once(None).chain(LAYERS.into_iter().map(Some))
}

fn outcome_label(outcome: Outcome) -> &'static str {
    outcome.map(Layer::as_str).unwrap_or("answered")
}

/// A colour per outcome (Okabe–Ito, told apart with colour-blindness too), set as SVG
/// attributes so the chart keeps its colours without the stylesheet.
fn outcome_colour(outcome: Outcome) -> &'static str {
    match outcome {
        None => "#009e73",
        Some(Layer::Identity) => "#d55e00",
        Some(Layer::Permission) => "#cc79a7",
        Some(Layer::Quota) => "#e69f00",
        Some(Layer::RateLimit) => "#f0e442",
        Some(Layer::Routing) => "#56b4e9",
        Some(Layer::Upstream) => "#0072b2",
        Some(Layer::Request) => "#6b7280",
        Some(Layer::Internal) => "#1c2330",
    }
}

fn count_of(hour: &HourTraffic, outcome: Outcome) -> i64 {
    match outcome {
        None => hour.ok,
        Some(layer) => hour.errors_of(layer),
    }
}

/// `13:00–14:00 UTC: 12 requests: 9 answered, 3 identity` (outcomes with none are left out).
fn hour_summary(hour: &HourTraffic) -> String {
    let parts: Vec<String> = outcomes()
        .map(|outcome| (outcome, count_of(hour, outcome)))
        .filter(|(_, count)| *count > 0)
        .map(|(outcome, count)| format!("{count} {}", outcome_label(outcome)))
        .collect();
    let span = format!("{}–{} UTC", format_utc_time(hour.start), format_utc_time(hour.start + HOUR_MS));
    match hour.requests() {
        0 => format!("{span}: no requests"),
        requests => format!("{span}: {requests} requests: {}", parts.join(", ")),
    }
}

/// The smallest of 1, 2, 5, 10, 20, 50… that is at least `value`: the chart's top.
fn scale_top(value: i64) -> i64 {
    let mut step = 1;
    loop {
        if let Some(top) = [step, 2 * step, 5 * step].into_iter().find(|top| *top >= value) {
            return top;
        }
        step *= 10;
    }
}

// Geometry in the SVG's own units; it scales to the card's width. The labels sit above
// and below the plot (not beside it) so phone stylesheets can enlarge them without clipping.
const CHART_LEFT: f64 = 8.0;
const CHART_TOP: f64 = 36.0;
const PLOT_HEIGHT: f64 = 190.0;
const SLOT_WIDTH: f64 = 30.0;
const BAR_WIDTH: f64 = 22.0;
const CHART_WIDTH: f64 = CHART_LEFT + SLOT_WIDTH * super::HOURS as f64 + 6.0;
const CHART_HEIGHT: f64 = CHART_TOP + PLOT_HEIGHT + 40.0;
/// Every how many hours the time axis is labelled.
const LABEL_EVERY: usize = 6;

/// One stacked bar per hour, answered at the bottom and each layer's refusals above.
#[component]
fn TrafficChart(traffic: Traffic) -> impl IntoView {
    let top = scale_top(traffic.hours.iter().map(HourTraffic::requests).max().unwrap_or(0).max(1));
    let baseline = CHART_TOP + PLOT_HEIGHT;
    let y_of = move |count: i64| baseline - count as f64 * PLOT_HEIGHT / top as f64;
    let bars = traffic
        .hours
        .iter()
        .enumerate()
        .map(|(index, hour)| {
            let x = CHART_LEFT + index as f64 * SLOT_WIDTH + (SLOT_WIDTH - BAR_WIDTH) / 2.0;
            let mut below = 0;
            let segments = outcomes()
                .filter_map(|outcome| {
                    let count = count_of(hour, outcome);
                    if count == 0 {
                        return None;
                    }
                    let (bottom, top) = (y_of(below), y_of(below + count));
                    below += count;
                    Some(view! {
                        <rect
                            class="segment"
                            data-outcome=outcome_label(outcome)
                            x=format!("{x:.1}")
                            y=format!("{top:.1}")
                            width=format!("{BAR_WIDTH:.1}")
                            height=format!("{:.1}", bottom - top)
                            fill=outcome_colour(outcome)
                        />
                    })
                })
                .collect_view();
            // The full-height hit area makes the tooltip reachable for short and empty bars too.
            view! {
                <g class="bar" data-hour=hour.start>
                    <title>{hour_summary(hour)}</title>
                    <rect
                        x=format!("{:.1}", x - (SLOT_WIDTH - BAR_WIDTH) / 2.0)
                        y=format!("{CHART_TOP:.1}")
                        width=format!("{SLOT_WIDTH:.1}")
                        height=format!("{PLOT_HEIGHT:.1}")
                        fill="transparent"
                    />
                    {segments}
                </g>
            }
        })
        .collect_view();
    let labels = traffic
        .hours
        .iter()
        .enumerate()
        .filter(|(index, _)| index % LABEL_EVERY == 0)
        .map(|(index, hour)| {
            let x = CHART_LEFT + index as f64 * SLOT_WIDTH;
            view! {
                <text x=format!("{x:.1}") y=format!("{:.1}", baseline + 30.0) font-size="16" fill="#5b6576">
                    {format_utc_time(hour.start)}
                </text>
            }
        })
        .collect_view();
    let right = CHART_WIDTH - 6.0;
    view! {
        <svg
            class="chart"
            data-testid="traffic-chart"
            viewBox=format!("0 0 {CHART_WIDTH} {CHART_HEIGHT}")
            role="img"
            aria-label="Requests per hour over the last 24 hours, answered and refused by layer; the table below has the figures."
        >
            <line x1=CHART_LEFT y1=CHART_TOP x2=right y2=CHART_TOP stroke="#d9dee6" />
            <line x1=CHART_LEFT y1=baseline x2=right y2=baseline stroke="#5b6576" />
            <text x=CHART_LEFT y=CHART_TOP - 8.0 font-size="16" fill="#5b6576">
                {top} " per hour"
            </text>
            {bars}
            {labels}
        </svg>
    }
}

/// What each colour means, with the 24-hour count and share of each outcome.
#[component]
fn Legend(total: HourTraffic) -> impl IntoView {
    let requests = total.requests();
    view! {
        <ul class="legend" data-testid="traffic-legend">
            {outcomes()
                .map(|outcome| {
                    let count = count_of(&total, outcome);
                    view! {
                        <li data-outcome=outcome_label(outcome)>
                            <svg class="swatch" viewBox="0 0 10 10" aria-hidden="true">
                                <rect width="10" height="10" fill=outcome_colour(outcome) />
                            </svg>
                            {outcome_label(outcome)} " " <strong>{count}</strong>
                            <span class="muted">" (" {percent(count, requests)} ")"</span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

#[component]
fn TrafficTable(traffic: Traffic) -> impl IntoView {
    let row = |label: String, hour: &HourTraffic| {
        let cells = outcomes().map(|outcome| view! { <td class="num">{count_of(hour, outcome)}</td> }).collect_view();
        view! {
            <tr data-hour=hour.start>
                <th scope="row">{label}</th>
                {cells}
                <td class="num">{hour.requests()}</td>
            </tr>
        }
    };
    let body = traffic
        .hours
        .iter()
        .map(|hour| row(format!("{}–{} UTC", format_utc(hour.start), format_utc_time(hour.start + HOUR_MS)), hour))
        .collect_view();
    view! {
        <table class="table visually-hidden" data-testid="traffic-table">
            <caption>"Requests per hour over the last 24 hours, answered and refused by layer"</caption>
            <thead>
                <tr>
                    <th scope="col">"Hour"</th>
                    {outcomes().map(|outcome| view! { <th scope="col">{outcome_label(outcome)}</th> }).collect_view()}
                    <th scope="col">"Total"</th>
                </tr>
            </thead>
            <tbody>{body}</tbody>
            <tfoot>{row("Last 24 hours".into(), &traffic.total)}</tfoot>
        </table>
    }
}

#[component]
fn ExpiringKeys(keys: Vec<ExpiringKey>, now: i64) -> impl IntoView {
    let body = if keys.is_empty() {
        view! { <p class="empty">"No key expires within the next 7 days."</p> }.into_any()
    } else {
        view! {
            <ul class="expiring">
                {keys
                    .into_iter()
                    .map(|key| {
                        let days = (key.expires_at - now).div_euclid(crate::timefmt::DAY_MS);
                        let when = match days {
                            0 => "within a day".to_owned(),
                            1 => "in 1 day".to_owned(),
                            days => format!("in {days} days"),
                        };
                        view! {
                            <li data-key-id=key.id.clone()>
                                <a href="/keys">{key.name}</a>
                                " "
                                <code>{key.prefix}</code>
                                " expires " {when} " ("
                                {format_utc(key.expires_at)}
                                ")"
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
        .into_any()
    };
    view! {
        <section class="card" data-testid="expiring-keys">
            <h2>"Keys expiring soon"</h2>
            {body}
            <p>
                <a href="/keys">"Manage keys"</a>
            </p>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_top_is_a_round_number_at_or_above_the_tallest_bar() {
        let tops: Vec<i64> = [1, 2, 3, 5, 6, 11, 20, 21, 499, 501].into_iter().map(scale_top).collect();
        assert_eq!(tops, [1, 2, 5, 5, 10, 20, 20, 50, 500, 1000]);
    }

    #[test]
    fn percentages_round_to_one_decimal() {
        assert_eq!(percent(0, 0), "0 %");
        assert_eq!(percent(1, 8), "12.5 %");
        assert_eq!(percent(2, 3), "66.7 %");
        assert_eq!(percent(5, 5), "100.0 %");
    }

    #[test]
    fn an_hour_is_summed_up_with_its_nonzero_outcomes_only() {
        let mut hour = HourTraffic::empty(13 * HOUR_MS);
        hour.add(None, 9);
        hour.add(Some("identity"), 2);
        hour.add(Some("rate_limit"), 1);
        assert_eq!(hour_summary(&hour), "13:00–14:00 UTC: 12 requests: 9 answered, 2 identity, 1 rate_limit");
        assert_eq!(hour_summary(&HourTraffic::empty(0)), "00:00–01:00 UTC: no requests");
    }
}
