use super::docs::{BadBody, NotFound, Refused};
use crate::http::json::Json;
use app::access::Caller;
use app::accounts::invitations::{service, InvitationView, NewInvitation};
use app::auth::Membership;
use app::error::AppError;
use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// The account's invitations not answered yet (admin, the account's owners).
#[utoipa::path(
    get,
    path = "/accounts/{id}/invitations",
    operation_id = "list_invitations",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id")),
    responses((status = 200, description = "Pending invitations, oldest first", body = [InvitationView]), Refused, NotFound)
)]
pub async fn of_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<InvitationView>>, AppError> {
    Ok(axum::Json(service::of_account(&state, &caller, &id).await?))
}

/// Invite an email into the account (admin, the account's owners). The person joins by
/// accepting; until then, or for 14 days, it waits. The answer is the same whether or not
/// anyone has registered that email; inviting it again replaces the earlier invitation.
#[utoipa::path(
    post,
    path = "/accounts/{id}/invitations",
    operation_id = "invite_member",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id")),
    request_body = NewInvitation,
    responses((status = 202, description = "Invitation recorded", body = InvitationView), BadBody, Refused, NotFound)
)]
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<NewInvitation>,
) -> Result<(StatusCode, axum::Json<InvitationView>), AppError> {
    Ok((StatusCode::ACCEPTED, axum::Json(service::invite(&state, &caller, &id, input).await?)))
}

/// Revoke an invitation not answered yet (admin, the account's owners).
#[utoipa::path(
    delete,
    path = "/accounts/{id}/invitations/{invitation_id}",
    operation_id = "revoke_invitation",
    tag = "accounts",
    params(
        ("id" = String, Path, description = "The account's id"),
        ("invitation_id" = String, Path, description = "The invitation's id"),
    ),
    responses((status = 204, description = "Revoked"), Refused, NotFound)
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, invitation_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    service::revoke(&state, &caller, &id, &invitation_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user's invitations waiting for an answer.
#[utoipa::path(
    get,
    path = "/invitations",
    operation_id = "my_invitations",
    tag = "accounts",
    responses((status = 200, description = "Pending invitations to the caller's email", body = [InvitationView]), Refused)
)]
pub async fn mine(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Vec<InvitationView>>, AppError> {
    Ok(axum::Json(service::mine(&state, &caller).await?))
}

/// Accept an invitation to the caller's email: join the account with its role.
#[utoipa::path(
    post,
    path = "/invitations/{id}/accept",
    operation_id = "accept_invitation",
    tag = "accounts",
    params(("id" = String, Path, description = "The invitation's id")),
    responses(
        (status = 200, description = "The membership it gave", body = Membership),
        (status = 400, description = "It would leave the account without an owner (`invalid_value`)", body = app::error::ErrorBody),
        Refused,
        NotFound,
    )
)]
pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Membership>, AppError> {
    Ok(axum::Json(service::accept(&state, &caller, &id).await?))
}

/// Decline an invitation to the caller's email.
#[utoipa::path(
    post,
    path = "/invitations/{id}/decline",
    operation_id = "decline_invitation",
    tag = "accounts",
    params(("id" = String, Path, description = "The invitation's id")),
    responses((status = 204, description = "Declined"), Refused, NotFound)
)]
pub async fn decline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    service::decline(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
