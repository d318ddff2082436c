//! Membership by invitation: owners invite by email, the person accepts or declines; the
//! owner's answer never says whether the email is registered. On both databases.

use crate::helpers::{error_of, spawn_app, Backend, TestApp};
use crate::on_both_backends;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

struct World {
    app: TestApp,
    admin: Client,
    owner: Client,
    invitee: Client,
    invitee_id: String,
    account: String,
}

async fn world(backend: Backend) -> World {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (owner_id, owner) = app.user(&admin, "owner@test.local", "user").await;
    let (invitee_id, invitee) = app.user(&admin, "invitee@test.local", "user").await;
    let account = app.account(&admin, "Inviting", &owner_id).await;
    World { app, admin, owner, invitee, invitee_id, account }
}

impl World {
    async fn invite(&self, client: &Client, email: &str, role: &str) -> Response {
        let url = self.app.url(&format!("/api/v1/accounts/{}/invitations", self.account));
        client.post(url).json(&json!({ "email": email, "role": role })).send().await.unwrap()
    }

    async fn invited(&self, client: &Client, email: &str, role: &str) -> Value {
        let response = self.invite(client, email, role).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        response.json().await.unwrap()
    }

    async fn get(&self, client: &Client, path: &str) -> Response {
        client.get(self.app.url(path)).send().await.unwrap()
    }

    async fn json(&self, client: &Client, path: &str) -> Value {
        let response = self.get(client, path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    async fn answer(&self, client: &Client, id: &str, answer: &str) -> Response {
        client.post(self.app.url(&format!("/api/v1/invitations/{id}/{answer}"))).send().await.unwrap()
    }

    async fn member_emails(&self) -> Vec<String> {
        let members = self.json(&self.admin, &format!("/api/v1/accounts/{}/members", self.account)).await;
        members.as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap().to_owned()).collect()
    }

    async fn pending_emails(&self) -> Vec<String> {
        let pending = self.json(&self.owner, &format!("/api/v1/accounts/{}/invitations", self.account)).await;
        pending.as_array().unwrap().iter().map(|i| i["email"].as_str().unwrap().to_owned()).collect()
    }

    async fn audited(&self, action: &str) -> usize {
        let page = self.json(&self.admin, &format!("/api/v1/audit?action={action}")).await;
        page["entries"].as_array().unwrap().len()
    }
}

/// An answer with what differs between any two invitations (ids, email, times) taken out.
fn shape(mut answer: Value) -> Value {
    for field in ["id", "email", "created_at", "expires_at"] {
        answer.as_object_mut().unwrap().remove(field);
    }
    answer
}

async fn the_answer_is_the_same_for_registered_and_unregistered_emails(backend: Backend) {
    let w = world(backend).await;
    let registered = w.invite(&w.owner, "invitee@test.local", "member").await;
    let unregistered = w.invite(&w.owner, "nobody@test.local", "member").await;
    assert_eq!(registered.status(), StatusCode::ACCEPTED);
    assert_eq!(registered.status(), unregistered.status());
    let headers = |response: &Response| {
        let mut names: Vec<String> = response.headers().keys().map(|name| name.to_string()).collect();
        names.sort();
        names
    };
    assert_eq!(headers(&registered), headers(&unregistered));
    let (registered, unregistered): (Value, Value) =
        (registered.json().await.unwrap(), unregistered.json().await.unwrap());
    assert_eq!(shape(registered.clone()), shape(unregistered.clone()), "{registered} vs {unregistered}");
    assert_eq!(registered["email"], "invitee@test.local");
    assert_eq!(registered["account_name"], "Inviting");
    assert_eq!(registered["invited_by_email"], "owner@test.local");

    // Invited is not a member: the account stays out of the invitee's sight.
    assert_eq!(w.member_emails().await, ["owner@test.local"]);
    error_of(w.get(&w.invitee, &format!("/api/v1/accounts/{}", w.account)).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    assert_eq!(w.pending_emails().await, ["invitee@test.local", "nobody@test.local"]);
    assert_eq!(w.audited("invitation.create").await, 2);

    let malformed = w.invite(&w.owner, "not an email", "member").await;
    assert_eq!(error_of(malformed, StatusCode::BAD_REQUEST, "invalid_value").await["param"], "email");
}

async fn the_invitee_joins_by_accepting_once(backend: Backend) {
    let w = world(backend).await;
    let invitation = w.invited(&w.owner, "Invitee@Test.local", "member").await;
    let id = invitation["id"].as_str().unwrap();
    let mine = w.json(&w.invitee, "/api/v1/invitations").await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["id"], id);
    assert_eq!(mine[0]["account_name"], "Inviting");

    let (_, stranger) = w.app.user(&w.admin, "stranger@test.local", "user").await;
    error_of(w.answer(&stranger, id, "accept").await, StatusCode::NOT_FOUND, "not_found").await;
    error_of(w.answer(&w.owner, id, "accept").await, StatusCode::NOT_FOUND, "not_found").await;
    assert!(w.json(&stranger, "/api/v1/invitations").await.as_array().unwrap().is_empty());

    let accepted = w.answer(&w.invitee, id, "accept").await;
    assert_eq!(accepted.status(), StatusCode::OK);
    let membership: Value = accepted.json().await.unwrap();
    assert_eq!(membership, json!({ "account_id": w.account, "account_name": "Inviting", "role": "member" }));
    assert_eq!(w.member_emails().await, ["invitee@test.local", "owner@test.local"]);
    let me = w.json(&w.invitee, "/api/v1/me").await;
    assert_eq!(me["accounts"][0]["account_id"], w.account.as_str());
    assert_eq!(w.get(&w.invitee, &format!("/api/v1/accounts/{}", w.account)).await.status(), StatusCode::OK);

    error_of(w.answer(&w.invitee, id, "accept").await, StatusCode::NOT_FOUND, "not_found").await;
    assert!(w.pending_emails().await.is_empty());
    assert!(w.json(&w.invitee, "/api/v1/invitations").await.as_array().unwrap().is_empty());
    assert_eq!(w.audited("invitation.accept").await, 1);
}

async fn declined_revoked_and_lapsed_invitations_add_nobody(backend: Backend) {
    let w = world(backend).await;
    let declined = w.invited(&w.owner, "invitee@test.local", "owner").await;
    assert_eq!(
        w.answer(&w.invitee, declined["id"].as_str().unwrap(), "decline").await.status(),
        StatusCode::NO_CONTENT
    );
    error_of(
        w.answer(&w.invitee, declined["id"].as_str().unwrap(), "accept").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let revoked = w.invited(&w.owner, "invitee@test.local", "member").await;
    let revoked_id = revoked["id"].as_str().unwrap();
    let url = w.app.url(&format!("/api/v1/accounts/{}/invitations/{revoked_id}", w.account));
    assert_eq!(w.owner.delete(&url).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    error_of(w.owner.delete(&url).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    assert!(w.json(&w.invitee, "/api/v1/invitations").await.as_array().unwrap().is_empty());
    error_of(w.answer(&w.invitee, revoked_id, "accept").await, StatusCode::NOT_FOUND, "not_found").await;

    let lapsed = w.invited(&w.owner, "invitee@test.local", "member").await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&w.app.database.url).await.unwrap();
    sqlx::query("UPDATE invitations SET expires_at = 1").execute(&pool).await.unwrap();
    assert!(w.json(&w.invitee, "/api/v1/invitations").await.as_array().unwrap().is_empty());
    error_of(w.answer(&w.invitee, lapsed["id"].as_str().unwrap(), "accept").await, StatusCode::NOT_FOUND, "not_found")
        .await;

    assert_eq!(w.member_emails().await, ["owner@test.local"]);
    assert_eq!(w.audited("invitation.decline").await, 1);
    assert_eq!(w.audited("invitation.revoke").await, 1);
}

async fn an_invitation_to_an_unregistered_email_waits_for_its_user(backend: Backend) {
    let w = world(backend).await;
    w.invited(&w.owner, "later@test.local", "member").await;
    let (_, later) = w.app.user(&w.admin, "later@test.local", "user").await;
    let mine = w.json(&later, "/api/v1/invitations").await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let accepted = w.answer(&later, mine[0]["id"].as_str().unwrap(), "accept").await;
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(w.member_emails().await, ["later@test.local", "owner@test.local"]);
}

async fn only_owners_and_admins_invite_and_only_admins_add_directly(backend: Backend) {
    let w = world(backend).await;
    let admin_invite = w.invite(&w.admin, "invitee@test.local", "member").await;
    assert_eq!(admin_invite.status(), StatusCode::ACCEPTED, "admins invite too");
    let accepted: Value = admin_invite.json().await.unwrap();
    let accepted = w.answer(&w.invitee, accepted["id"].as_str().unwrap(), "accept").await;
    assert_eq!(accepted.status(), StatusCode::OK);

    let (_, support) = w.app.user(&w.admin, "support@test.local", "support").await;
    let (_, stranger) = w.app.user(&w.admin, "stranger@test.local", "user").await;
    error_of(w.invite(&w.invitee, "x@test.local", "member").await, StatusCode::FORBIDDEN, "forbidden").await;
    error_of(w.invite(&support, "x@test.local", "member").await, StatusCode::FORBIDDEN, "forbidden").await;
    error_of(w.invite(&stranger, "x@test.local", "member").await, StatusCode::NOT_FOUND, "not_found").await;
    let list = format!("/api/v1/accounts/{}/invitations", w.account);
    error_of(w.get(&w.invitee, &list).await, StatusCode::FORBIDDEN, "forbidden").await;
    error_of(w.get(&stranger, &list).await, StatusCode::NOT_FOUND, "not_found").await;

    // Owners no longer add anyone without their consent.
    let direct = w
        .owner
        .post(w.app.url(&format!("/api/v1/accounts/{}/members", w.account)))
        .json(&json!({ "user_id": w.invitee_id, "role": "owner" }))
        .send()
        .await
        .unwrap();
    error_of(direct, StatusCode::FORBIDDEN, "forbidden").await;
    let (status, _) = w
        .app
        .rpc(
            &w.owner,
            "add_member",
            &[("account_id", &w.account), ("email", "stranger@test.local"), ("role", "member")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(w.member_emails().await, ["invitee@test.local", "owner@test.local"], "the role is unchanged");
    assert!(w.pending_emails().await.is_empty(), "refused invitations recorded nothing");
}

on_both_backends!(
    the_answer_is_the_same_for_registered_and_unregistered_emails,
    the_invitee_joins_by_accepting_once,
    declined_revoked_and_lapsed_invitations_add_nobody,
    an_invitation_to_an_unregistered_email_waits_for_its_user,
    only_owners_and_admins_invite_and_only_admins_add_directly,
);
