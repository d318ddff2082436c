use super::docs::{BadBody, Conflict, Invalid, NotFound, Refused};
use crate::http::json::JsonBody;
use app::access::Caller;
use app::accounts::{service, AccountChange, AccountView, MemberView, NewAccount, NewMember};
use app::error::AppError;
use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// Accounts: every one for admin and support, the caller's own for users.
#[utoipa::path(
    get,
    path = "/accounts",
    operation_id = "list_accounts",
    tag = "accounts",
    responses((status = 200, description = "Accounts by name", body = [AccountView]), Refused)
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Vec<AccountView>>, AppError> {
    Ok(axum::Json(service::list(&state, &caller).await?))
}

/// One account.
#[utoipa::path(
    get,
    path = "/accounts/{id}",
    operation_id = "get_account",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id")),
    responses((status = 200, description = "The account", body = AccountView), Refused, NotFound)
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<AccountView>, AppError> {
    Ok(axum::Json(service::get(&state, &caller, &id).await?))
}

/// Create an account (admin).
#[utoipa::path(
    post,
    path = "/accounts",
    operation_id = "create_account",
    tag = "accounts",
    request_body = NewAccount,
    responses((status = 201, description = "The new account", body = AccountView), BadBody, Refused, Conflict)
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    input: JsonBody<NewAccount>,
) -> Result<(StatusCode, axum::Json<AccountView>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::create(&state, &caller, input.deferred()).await?)))
}

/// Suspend or reactivate an account, or set its low-balance threshold (admin).
#[utoipa::path(
    patch,
    path = "/accounts/{id}",
    operation_id = "change_account",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id")),
    request_body = AccountChange,
    responses((status = 200, description = "The account after the change", body = AccountView), BadBody, Refused, NotFound)
)]
pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    change: JsonBody<AccountChange>,
) -> Result<axum::Json<AccountView>, AppError> {
    Ok(axum::Json(service::change(&state, &caller, &id, change.deferred()).await?))
}

/// The account's members and their roles.
#[utoipa::path(
    get,
    path = "/accounts/{id}/members",
    operation_id = "list_members",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id")),
    responses((status = 200, description = "The members", body = [MemberView]), Refused, NotFound)
)]
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<MemberView>>, AppError> {
    Ok(axum::Json(service::members(&state, &caller, &id).await?))
}

/// Add a user to the account at once, or change their role in it (admin). Owners invite
/// instead (`POST /accounts/{id}/invitations`): a person joins an account by accepting.
#[utoipa::path(
    post,
    path = "/accounts/{id}/members",
    operation_id = "add_member",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id")),
    request_body = NewMember,
    responses((status = 201, description = "The membership", body = MemberView), BadBody, Refused, NotFound, Conflict)
)]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    input: JsonBody<NewMember>,
) -> Result<(StatusCode, axum::Json<MemberView>), AppError> {
    Ok((StatusCode::CREATED, axum::Json(service::add_member(&state, &caller, &id, input.deferred()).await?)))
}

/// Remove a user from the account (admin, the account's owners).
#[utoipa::path(
    delete,
    path = "/accounts/{id}/members/{user_id}",
    operation_id = "remove_member",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id"), ("user_id" = String, Path, description = "The member's user id")),
    responses((status = 204, description = "Removed"), Invalid, Refused, NotFound)
)]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    service::remove_member(&state, &caller, &id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
