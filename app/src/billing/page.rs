use super::{get_balance, take_new_codes, CreateRedemptionCodes, GrantCredit, IssuedCodes, RedeemCode};
use crate::accounts::MembershipRole;
use crate::auth::Viewer;
use crate::layout::{ErrorNotice, FormResult};
use crate::money::format_credits;
use crate::timefmt::format_utc;
use crate::users::PlatformRole;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The balance of the current account (or `?account=` for admins and support): ledger
/// with pagination, redeem a code (owners), grant credit and create codes (admins).
#[component]
pub fn BalancePage() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let query = use_query_map();
    let chosen = query.read_untracked().get("account").filter(|id| !id.is_empty());
    let account_param =
        chosen.as_deref().map(|id| format!("account={}&", crate::usage::encode(id))).unwrap_or_default();
    let Some(account_id) = chosen.or(viewer.current_account.clone()) else {
        return view! {
            <Title text="Balance" />
            <h1>"Balance"</h1>
            <p class="empty">"You are not a member of any account yet."</p>
        }
        .into_any();
    };
    let is_admin = viewer.user.role == PlatformRole::Admin;
    let is_owner = viewer
        .accounts
        .iter()
        .any(|membership| membership.account_id == account_id && membership.role == MembershipRole::Owner);
    let redeem = ServerAction::<RedeemCode>::new();
    let grant = ServerAction::<GrantCredit>::new();
    let codes = ServerAction::<CreateRedemptionCodes>::new();
    let cursor = move || query.read().get("cursor").unwrap_or_default();
    let data_account = account_id.clone();
    let data = Resource::new(
        move || (cursor(), redeem.version().get(), grant.version().get()),
        move |(cursor, ..)| get_balance(data_account.clone(), Some(cursor)),
    );
    let flashed = Resource::new(|| (), |_| take_new_codes());
    let (redeem_account, grant_account) = (account_id.clone(), account_id.clone());
    view! {
        <Title text="Balance" />
        <h1>"Balance"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let account_param = account_param.clone();
                Suspend::new(async move {
                match data.await {
                    Ok((balance, ledger)) => {
                        let older = ledger
                            .next_cursor
                            .map(|cursor| {
                                let href = format!("?{account_param}cursor={}", crate::usage::encode(&cursor));
                                view! {
                                    <p class="pager">
                                        <a href=href>"Older entries →"</a>
                                    </p>
                                }
                            });
                        view! {
                            {balance
                                .low_balance
                                .then(|| {
                                    view! {
                                        <p class="notice warn" role="alert" data-testid="low-balance">
                                            "The available balance is below "
                                            {format_credits(balance.low_balance_threshold)}
                                            " credits: top up soon, or requests will be refused with insufficient_balance."
                                        </p>
                                    }
                                })}
                            <div class="stats">
                                <div class="card stat">
                                    <span class="muted">"Balance"</span>
                                    <strong data-testid="balance">{format_credits(balance.balance)}</strong>
                                    " credits"
                                </div>
                                <div class="card stat">
                                    <span class="muted">"Reserved by requests in flight"</span>
                                    <strong>{format_credits(balance.reserved)}</strong>
                                </div>
                                <div class="card stat">
                                    <span class="muted">"Available"</span>
                                    <strong data-testid="available">{format_credits(balance.available)}</strong>
                                </div>
                            </div>
                            <h2>"Ledger"</h2>
                            {if ledger.entries.is_empty() {
                                view! { <p class="empty">"No entries yet."</p> }.into_any()
                            } else {
                                view! {
                                    <table class="table" data-testid="ledger-table">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Time"</th>
                                                <th scope="col">"Kind"</th>
                                                <th scope="col" class="num">"Credits"</th>
                                                <th scope="col">"Note"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {ledger
                                                .entries
                                                .into_iter()
                                                .map(|entry| {
                                                    let note = entry
                                                        .redemption_code
                                                        .map(|hint| format!("Code {hint}"))
                                                        .or(entry.request_id.map(|id| format!("Request {id}")))
                                                        .unwrap_or(entry.note);
                                                    view! {
                                                        <tr>
                                                            <td>{format_utc(entry.created_at)}</td>
                                                            <td>{entry.kind.as_str()}</td>
                                                            <td class="num">{format_credits(entry.amount)}</td>
                                                            <td>{note}</td>
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                }
                                    .into_any()
                            }}
                            {older}
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })
            }}
        </Suspense>
        {(is_owner || is_admin)
            .then(move || {
                view! {
                    <section class="card">
                        <h2>"Redeem a code"</h2>
                        <FormResult result=redeem.value().into() success="Code redeemed: the credit is on the balance." />
                        <ActionForm action=redeem attr:class="inline-form" attr:data-testid="redeem-form">
                            <input type="hidden" name="account_id" value=redeem_account />
                            <label>"Code" <input type="text" name="code" required size="30" autocomplete="off" /></label>
                            <button type="submit">"Redeem"</button>
                        </ActionForm>
                    </section>
                }
            })}
        {is_admin
            .then(move || {
                view! {
                    <section class="card">
                        <h2>"Grant credit (admin)"</h2>
                        <FormResult result=grant.value().into() success="Credit granted." />
                        <ActionForm action=grant attr:class="inline-form">
                            <input type="hidden" name="account_id" value=grant_account />
                            <label>"Credits" <input type="text" name="amount" inputmode="decimal" required size="8" /></label>
                            <label>"Note" <input type="text" name="note" maxlength="500" required size="30" /></label>
                            <button type="submit">"Grant"</button>
                        </ActionForm>
                    </section>
                    <section class="card">
                        <h2>"Create redemption codes (admin)"</h2>
                        {move || match codes.value().get() {
                            Some(Ok(issued)) => view! { <NewCodes issued /> }.into_any(),
                            Some(Err(error)) => view! { <ErrorNotice error /> }.into_any(),
                            None => ().into_any(),
                        }}
                        <Suspense>
                            {move || Suspend::new(async move {
                                flashed.await.ok().flatten().map(|issued| view! { <NewCodes issued /> })
                            })}
                        </Suspense>
                        <ActionForm action=codes attr:class="inline-form" attr:data-testid="codes-form">
                            <label>
                                "Credits per code" <input type="text" name="amount" inputmode="decimal" required size="8" />
                            </label>
                            <label>"How many" <input type="number" name="count" min="1" max="1000" value="1" required /></label>
                            <button type="submit">"Create codes"</button>
                        </ActionForm>
                    </section>
                }
            })}
    }
    .into_any()
}

#[component]
fn NewCodes(issued: IssuedCodes) -> impl IntoView {
    let all = issued.codes.join("\n");
    let download = format!("data:text/plain;charset=utf-8,{}", all.replace('\n', "%0A"));
    view! {
        <div class="secret" data-testid="new-codes">
            <p class="notice warn">
                <strong>"Copy these codes now. You will not see them again."</strong>
                " Each is worth " {format_credits(issued.amount)} " credits and works once."
            </p>
            <textarea readonly rows=issued.codes.len().clamp(1, 10) data-testid="new-codes-list">
                {all}
            </textarea>
            <a href=download download="redemption-codes.txt" data-testid="download-codes">
                "Download as a text file"
            </a>
        </div>
    }
}
