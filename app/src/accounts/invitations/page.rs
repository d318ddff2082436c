use super::{list_invitations, my_invitations, AcceptInvitation, DeclineInvitation, InviteMember, RevokeInvitation};
use crate::accounts::MembershipRole;
use crate::layout::{ErrorNotice, FormResult};
use crate::timefmt::format_utc;
use leptos::prelude::*;

/// On an account's page, for its owners and admins: invite by email, and the invitations
/// not answered yet, each with a button that revokes it.
#[component]
pub fn AccountInvitations(account_id: String) -> impl IntoView {
    let invite = ServerAction::<InviteMember>::new();
    let revoke = ServerAction::<RevokeInvitation>::new();
    let list_id = account_id.clone();
    let invitations = Resource::new(
        move || (list_id.clone(), invite.version().get(), revoke.version().get()),
        |(id, ..)| list_invitations(id),
    );
    let row_account_id = account_id.clone();
    view! {
        <section class="card" data-testid="invitations">
            <h2>"Invitations"</h2>
            <p class="muted">
                "An invited person joins when they accept, in their console, after signing in with that email."
            </p>
            <FormResult
                result=invite.value().into()
                success="Invitation recorded. It waits for that email to accept it, for 14 days."
            />
            <ActionForm action=invite attr:class="inline-form" attr:data-testid="invite-form">
                <input type="hidden" name="account_id" value=account_id />
                <label>"Email" <input type="email" name="email" required /></label>
                <label>
                    "Role"
                    <select name="role">
                        {MembershipRole::ALL
                            .iter()
                            .map(|role| view! { <option value=role.as_str()>{role.as_str()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <button type="submit">"Invite"</button>
            </ActionForm>
            <FormResult result=revoke.value().into() success="Invitation revoked." />
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || {
                    let account_id = row_account_id.clone();
                    Suspend::new(async move {
                        match invitations.await {
                            Ok(list) if list.is_empty() => {
                                view! { <p class="empty">"No invitations waiting."</p> }.into_any()
                            }
                            Ok(list) => {
                                view! {
                                    <table class="table" data-testid="invitations-table">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Email"</th>
                                                <th scope="col">"Role"</th>
                                                <th scope="col">"Invited by"</th>
                                                <th scope="col">"Expires"</th>
                                                <th scope="col"></th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {list
                                                .into_iter()
                                                .map(|invitation| {
                                                    let account_id = account_id.clone();
                                                    view! {
                                                        <tr>
                                                            <td>{invitation.email}</td>
                                                            <td>{invitation.role.as_str()}</td>
                                                            <td>{invitation.invited_by_email}</td>
                                                            <td class="nowrap">{format_utc(invitation.expires_at)}</td>
                                                            <td>
                                                                <ActionForm action=revoke>
                                                                    <input type="hidden" name="account_id" value=account_id />
                                                                    <input type="hidden" name="id" value=invitation.id />
                                                                    <button type="submit" class="danger">"Revoke"</button>
                                                                </ActionForm>
                                                            </td>
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                }
                                    .into_any()
                            }
                            Err(error) => view! { <ErrorNotice error /> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

/// Above every console page while the signed-in user has invitations to answer. `accept`
/// belongs to the layout, which reloads the viewer (their accounts) after each acceptance.
#[component]
pub fn MyInvitations(accept: ServerAction<AcceptInvitation>) -> impl IntoView {
    let decline = ServerAction::<DeclineInvitation>::new();
    let invitations = Resource::new(move || (accept.version().get(), decline.version().get()), |_| my_invitations());
    view! {
        <FormResult result=accept.value().into() success="Invitation accepted." />
        <FormResult result=decline.value().into() success="Invitation declined." />
        <Suspense>
            {move || Suspend::new(async move {
                match invitations.await {
                    Ok(list) if list.is_empty() => ().into_any(),
                    Ok(list) => {
                        view! {
                            <section class="card" data-testid="my-invitations">
                                <h2>"Invitations"</h2>
                                <ul class="invitations">
                                    {list
                                        .into_iter()
                                        .map(|invitation| {
                                            let (accept_id, decline_id) = (invitation.id.clone(), invitation.id);
                                            let (name, label) = (invitation.account_name.clone(), invitation.account_name);
                                            view! {
                                                <li data-account-name=label>
                                                    {invitation.invited_by_email} " invites you to join "
                                                    <strong>{name}</strong> " as "
                                                    {invitation.role.as_str()} "."
                                                    <ActionForm action=accept attr:class="row-form">
                                                        <input type="hidden" name="id" value=accept_id />
                                                        <button type="submit">"Accept"</button>
                                                    </ActionForm>
                                                    <ActionForm action=decline attr:class="row-form">
                                                        <input type="hidden" name="id" value=decline_id />
                                                        <button type="submit" class="danger">"Decline"</button>
                                                    </ActionForm>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            </section>
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
