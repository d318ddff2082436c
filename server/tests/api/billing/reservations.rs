//! The gateway's side of billing, called directly against the test database while the
//! server runs: reserve the worst case, settle the actual cost once, or release.

use super::{assert_books_balance, grant, whole_ledger};
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::on_both_backends;
use app::billing::reservations::{release, release_all_open, reserve, settle, Reservation, ReserveError};
use app::db::Db;
use reqwest::Client;

/// A running app, an account funded through the API, and the database it uses.
struct Setup {
    app: TestApp,
    admin: Client,
    db: Db,
    account: String,
    admin_id: String,
}

async fn setup(backend: Backend, balance: i64) -> Setup {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let me: serde_json::Value = admin.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    let admin_id = me["user"]["id"].as_str().unwrap().to_owned();
    let account = app.account(&admin, "Metered", &admin_id).await;
    grant(&app, &admin, &account, balance).await;
    let db = Db::connect(&app.database.url, 8).await.unwrap();
    Setup { app, admin, db, account, admin_id }
}

impl Setup {
    /// Inserts an API key of the account (keys have no API in this branch yet).
    async fn key(&self, spend_cap: Option<i64>) -> String {
        let id = app::clock::new_id();
        sqlx::query(
            "INSERT INTO api_keys (id, account_id, user_id, name, public_id, secret_hash, status, spend_cap, created_at, updated_at)
             VALUES ($1, $2, $3, 'test', $1, 'unused', 'enabled', $4, 0, 0)",
        )
        .bind(&id)
        .bind(&self.account)
        .bind(&self.admin_id)
        .bind(spend_cap)
        .execute(self.db.pool())
        .await
        .unwrap();
        id
    }

    fn reservation(&self, key_id: &str, amount: i64) -> Reservation {
        Reservation {
            request_id: app::clock::new_id(),
            account_id: self.account.clone(),
            key_id: key_id.to_owned(),
            amount,
        }
    }

    /// The key's `(spent, reserved)`.
    async fn key_totals(&self, key_id: &str) -> (i64, i64) {
        sqlx::query_as("SELECT spent, reserved FROM api_keys WHERE id = $1")
            .bind(key_id)
            .fetch_one(self.db.pool())
            .await
            .unwrap()
    }

    async fn open_reservations(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM reservations").fetch_one(self.db.pool()).await.unwrap()
    }

    /// Checks the books through the API; returns `(balance, reserved)`.
    async fn books(&self) -> (i64, i64) {
        let balance = assert_books_balance(&self.app, &self.admin, &self.account).await;
        (balance["balance"].as_i64().unwrap(), balance["reserved"].as_i64().unwrap())
    }
}

async fn concurrent_reservations_never_overdraw(backend: Backend) {
    const BALANCE: i64 = 10_000_000;
    const AMOUNT: i64 = 300_000;
    let s = setup(backend, BALANCE).await;
    let key = s.key(None).await;
    let attempts: Vec<_> = (0..64)
        .map(|_| {
            let (db, reservation) = (s.db.clone(), s.reservation(&key, AMOUNT));
            tokio::spawn(async move { reserve(&db, &reservation).await.map(|()| reservation) })
        })
        .collect();
    let mut reserved = Vec::new();
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(reservation) => reserved.push(reservation),
            Err(err) => assert_eq!(err, ReserveError::InsufficientBalance),
        }
    }
    let affordable = (BALANCE / AMOUNT) as usize;
    assert_eq!(reserved.len(), affordable, "exactly as many as the balance covers");
    assert_eq!(s.books().await, (BALANCE, affordable as i64 * AMOUNT), "all held, nothing charged yet");

    let mut charged = 0;
    for (i, reservation) in reserved.iter().enumerate() {
        // Actual costs at or under the reservation, one of them zero.
        let cost = (i as i64 * 7_919) % AMOUNT;
        assert_eq!(settle(&s.db, &reservation.request_id, cost).await.unwrap(), Some(cost));
        charged += cost;
    }
    assert_eq!(s.books().await, (BALANCE - charged, 0), "the balance lost exactly the charges");
    assert_eq!(s.key_totals(&key).await, (charged, 0));
    let usage = whole_ledger(&s.app, &s.admin, &s.account, 200).await.into_iter().filter(|e| e["kind"] == "usage");
    assert_eq!(usage.count(), affordable - 1, "one usage entry per charged request; none for the free one");
}

async fn a_request_is_charged_once_and_released_requests_are_free(backend: Backend) {
    let s = setup(backend, 5_000_000).await;
    let key = s.key(None).await;
    let charged = s.reservation(&key, 2_000_000);
    reserve(&s.db, &charged).await.unwrap();
    assert_eq!(s.books().await, (5_000_000, 2_000_000));
    assert_eq!(settle(&s.db, &charged.request_id, 1_234).await.unwrap(), Some(1_234));
    assert_eq!(settle(&s.db, &charged.request_id, 1_234).await.unwrap(), None, "a second settle is a no-op");
    assert_eq!(s.books().await, (5_000_000 - 1_234, 0));

    let over = s.reservation(&key, 1_000);
    reserve(&s.db, &over).await.unwrap();
    assert_eq!(settle(&s.db, &over.request_id, 5_000).await.unwrap(), Some(5_000), "usage beyond the hold is charged");

    let released = s.reservation(&key, 3_000_000);
    reserve(&s.db, &released).await.unwrap();
    release(&s.db, &released.request_id).await.unwrap();
    assert_eq!(settle(&s.db, &released.request_id, 99).await.unwrap(), None, "a released request is never charged");
    release(&s.db, &released.request_id).await.unwrap();
    assert_eq!(settle(&s.db, "never-reserved", 99).await.unwrap(), None);
    assert_eq!(s.books().await, (5_000_000 - 6_234, 0));
    assert_eq!(s.key_totals(&key).await, (6_234, 0));

    // Reusing a settled request id can hold money again but never charges it twice.
    reserve(&s.db, &charged).await.unwrap();
    assert_eq!(settle(&s.db, &charged.request_id, 1_234).await.unwrap(), Some(0));
    let ledger = whole_ledger(&s.app, &s.admin, &s.account, 200).await;
    let charges: Vec<_> = ledger.iter().filter(|entry| entry["request_id"] == charged.request_id.as_str()).collect();
    assert_eq!(charges.len(), 1);
    assert_eq!((charges[0]["kind"].as_str(), charges[0]["amount"].as_i64()), (Some("usage"), Some(-1_234)));
    assert_eq!(s.books().await, (5_000_000 - 6_234, 0));
}

async fn a_key_spend_cap_is_checked_before_the_balance(backend: Backend) {
    let s = setup(backend, 1_500_000).await;
    let capped = s.key(Some(1_000_000)).await;
    let first = s.reservation(&capped, 600_000);
    reserve(&s.db, &first).await.unwrap();
    assert_eq!(reserve(&s.db, &s.reservation(&capped, 600_000)).await, Err(ReserveError::KeyQuotaExhausted));
    settle(&s.db, &first.request_id, 500_000).await.unwrap();
    assert_eq!(s.key_totals(&capped).await, (500_000, 0));
    reserve(&s.db, &s.reservation(&capped, 500_000)).await.unwrap();
    assert_eq!(
        reserve(&s.db, &s.reservation(&capped, 1)).await,
        Err(ReserveError::KeyQuotaExhausted),
        "spent plus held has reached the cap"
    );

    let uncapped = s.key(None).await;
    assert_eq!(
        reserve(&s.db, &s.reservation(&uncapped, 600_000)).await,
        Err(ReserveError::InsufficientBalance),
        "1,000,000 left, 500,000 of it held"
    );
    assert_eq!(s.key_totals(&uncapped).await, (0, 0), "the key's hold was undone with the account's refusal");
    let roomy = s.key(Some(10_000_000)).await;
    assert_eq!(reserve(&s.db, &s.reservation(&roomy, 600_000)).await, Err(ReserveError::InsufficientBalance));
    assert_eq!(s.key_totals(&roomy).await, (0, 0));
    assert_eq!(s.open_reservations().await, 1);
    assert_eq!(s.books().await, (1_000_000, 500_000));
}

async fn release_all_open_frees_every_hold(backend: Backend) {
    let s = setup(backend, 9_000_000).await;
    let (one, two) = (s.key(None).await, s.key(Some(5_000_000)).await);
    let held: Vec<Reservation> = [(&one, 1_000_000), (&one, 2_000_000), (&two, 500_000), (&two, 700_000), (&one, 0)]
        .into_iter()
        .map(|(key, amount)| s.reservation(key, amount))
        .collect();
    for reservation in &held {
        reserve(&s.db, reservation).await.unwrap();
    }
    assert_eq!(s.books().await, (9_000_000, 4_200_000));
    assert_eq!(release_all_open(&s.db).await.unwrap(), 5);
    assert_eq!(release_all_open(&s.db).await.unwrap(), 0, "nothing is left open");
    assert_eq!(s.open_reservations().await, 0);
    assert_eq!(s.books().await, (9_000_000, 0), "released, not charged");
    assert_eq!((s.key_totals(&one).await, s.key_totals(&two).await), ((0, 0), (0, 0)));
    assert_eq!(settle(&s.db, &held[0].request_id, 10).await.unwrap(), None);
}

on_both_backends!(
    concurrent_reservations_never_overdraw,
    a_request_is_charged_once_and_released_requests_are_free,
    a_key_spend_cap_is_checked_before_the_balance,
    release_all_open_frees_every_hold,
);
