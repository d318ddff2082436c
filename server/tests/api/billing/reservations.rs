//! The gateway's side of billing, called directly against the test database while the
//! server runs: hold the worst case inside a lease, settle the actual cost once or
//! release it, write charges in batches, give leases back.

use super::{assert_books_balance, grant, whole_ledger};
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::on_both_backends;
use app::billing::reservations::{Hold, Purse, ReserveError};
use app::db::Db;
use app::instances::Instance;
use reqwest::Client;
use std::sync::Arc;
use std::time::Duration;

/// The stale time of the instances these tests register: longer than any test.
const STALE: Duration = Duration::from_secs(30);

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
    /// Inserts an API key of the account straight into the database.
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

    /// A purse of its own, as another gateway instance sharing the database would have.
    async fn purse(&self, instance: &str) -> Purse {
        self.purse_of(self.instance(instance, STALE).await).await
    }

    /// Registers an instance (taking over the previous run of the same id).
    async fn instance(&self, id: &str, stale_after: Duration) -> Arc<Instance> {
        Arc::new(Instance::join(self.db.clone(), id.to_owned(), "test".to_owned(), stale_after).await.unwrap())
    }

    async fn purse_of(&self, instance: Arc<Instance>) -> Purse {
        Purse::open(self.db.clone(), instance).await.unwrap().0
    }

    /// Makes the instance's heartbeat as old as a dead one's.
    async fn stop_heartbeat(&self, instance: &str) {
        sqlx::query("UPDATE instances SET heartbeat_at = 0 WHERE instance_id = $1")
            .bind(instance)
            .execute(self.db.pool())
            .await
            .unwrap();
    }

    async fn hold(&self, purse: &Purse, key_id: &str, amount: i64) -> Result<Hold, ReserveError> {
        purse.reserve(key_id, &self.account, amount).await
    }

    /// The key's `(spent, reserved)`.
    async fn key_totals(&self, key_id: &str) -> (i64, i64) {
        sqlx::query_as("SELECT spent, reserved FROM api_keys WHERE id = $1")
            .bind(key_id)
            .fetch_one(self.db.pool())
            .await
            .unwrap()
    }

    async fn leases(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM leases").fetch_one(self.db.pool()).await.unwrap()
    }

    /// Checks the books through the API; returns `(balance, reserved)`.
    async fn books(&self) -> (i64, i64) {
        let balance = assert_books_balance(&self.app, &self.admin, &self.account).await;
        (balance["balance"].as_i64().unwrap(), balance["reserved"].as_i64().unwrap())
    }
}

/// 64 concurrent holds on one instance: exactly as many as the balance covers.
async fn concurrent_holds_never_overdraw(backend: Backend) {
    const BALANCE: i64 = 10_000_000;
    const AMOUNT: i64 = 300_000;
    let s = setup(backend, BALANCE).await;
    let key = s.key(None).await;
    let purse = s.purse("one").await;
    let attempts: Vec<_> = (0..64)
        .map(|_| {
            let (purse, key, account) = (purse.clone(), key.clone(), s.account.clone());
            tokio::spawn(async move { purse.reserve(&key, &account, AMOUNT).await })
        })
        .collect();
    let mut held = Vec::new();
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(hold) => held.push(hold),
            Err(err) => assert_eq!(err, ReserveError::InsufficientBalance),
        }
    }
    let affordable = (BALANCE / AMOUNT) as usize;
    assert_eq!(held.len(), affordable, "exactly as many as the balance covers");
    let (balance, reserved) = s.books().await;
    assert_eq!(balance, BALANCE, "nothing charged yet");
    assert!(reserved >= affordable as i64 * AMOUNT && reserved <= BALANCE, "the lease covers the holds: {reserved}");

    let mut charged = 0;
    for (i, hold) in held.into_iter().enumerate() {
        // Actual costs at or under the hold, one of them zero.
        let cost = (i as i64 * 7_919) % AMOUNT;
        assert_eq!(hold.settle(&app::clock::new_id(), cost), cost);
        charged += cost;
    }
    purse.close().await;
    assert_eq!(s.books().await, (BALANCE - charged, 0), "the balance lost exactly the charges");
    assert_eq!(s.key_totals(&key).await, (charged, 0));
    assert_eq!(s.leases().await, 0, "every lease given back at close");
    let usage = whole_ledger(&s.app, &s.admin, &s.account, 200).await.into_iter().filter(|e| e["kind"] == "usage");
    assert_eq!(usage.count(), affordable - 1, "one usage entry per charged request; none for the free one");
}

/// Two instances sharing the database: together they never hold more than the balance.
async fn instances_sharing_a_database_never_overdraw(backend: Backend) {
    const BALANCE: i64 = 10_000_000;
    const AMOUNT: i64 = 300_000;
    let s = setup(backend, BALANCE).await;
    let key = s.key(None).await;
    let (one, two) = (s.purse("one").await, s.purse("two").await);
    let attempts: Vec<_> = (0..64)
        .map(|i| {
            let purse = if i % 2 == 0 { one.clone() } else { two.clone() };
            let (key, account) = (key.clone(), s.account.clone());
            tokio::spawn(async move { purse.reserve(&key, &account, AMOUNT).await })
        })
        .collect();
    let mut held = Vec::new();
    for attempt in attempts {
        if let Ok(hold) = attempt.await.unwrap() {
            held.push(hold);
        }
    }
    assert!(!held.is_empty());
    assert!(held.len() as i64 * AMOUNT <= BALANCE, "{} holds of {AMOUNT} exceed the balance", held.len());
    let (_, reserved) = s.books().await;
    assert!(reserved <= BALANCE, "the leases stay within the balance: {reserved}");
    let charged = held.len() as i64 * AMOUNT;
    for hold in held {
        hold.settle(&app::clock::new_id(), AMOUNT);
    }
    one.close().await;
    two.close().await;
    assert_eq!(s.books().await, (BALANCE - charged, 0));
}

async fn a_hold_is_charged_once_and_a_dropped_hold_is_free(backend: Backend) {
    let s = setup(backend, 5_000_000).await;
    let key = s.key(None).await;
    let purse = s.purse("one").await;
    let request_id = app::clock::new_id();
    let hold = s.hold(&purse, &key, 2_000_000).await.unwrap();
    assert_eq!(hold.settle(&request_id, 1_234), 1_234);
    purse.flush().await.unwrap();
    assert_eq!(s.books().await.0, 5_000_000 - 1_234, "written at the flush");

    let over = s.hold(&purse, &key, 1_000).await.unwrap();
    assert_eq!(over.settle(&app::clock::new_id(), 5_000), 5_000, "usage beyond the hold is charged");
    drop(s.hold(&purse, &key, 3_000_000).await.unwrap());
    assert_eq!(s.hold(&purse, &key, 1_000).await.unwrap().settle(&app::clock::new_id(), -7), 0, "never negative");
    purse.close().await;
    assert_eq!(s.books().await, (5_000_000 - 6_234, 0));
    assert_eq!(s.key_totals(&key).await, (6_234, 0));

    let ledger = whole_ledger(&s.app, &s.admin, &s.account, 200).await;
    let charges: Vec<_> = ledger.iter().filter(|entry| entry["request_id"] == request_id.as_str()).collect();
    assert_eq!(charges.len(), 1);
    assert_eq!((charges[0]["kind"].as_str(), charges[0]["amount"].as_i64()), (Some("usage"), Some(-1_234)));
    assert_eq!(ledger.iter().filter(|entry| entry["kind"] == "usage").count(), 2, "the dropped hold was free");
}

/// Charges settled but not yet written still count against the balance.
async fn unwritten_charges_count_against_the_balance(backend: Backend) {
    let s = setup(backend, 1_000_000).await;
    let key = s.key(None).await;
    let purse = s.purse("one").await;
    s.hold(&purse, &key, 600_000).await.unwrap().settle(&app::clock::new_id(), 600_000);
    assert_eq!(s.hold(&purse, &key, 600_000).await.err(), Some(ReserveError::InsufficientBalance));
    assert!(s.hold(&purse, &key, 400_000).await.is_ok(), "what is left can still be held");
    purse.close().await;
    assert_eq!(s.books().await, (400_000, 0));
}

async fn a_key_spend_cap_is_checked_before_the_balance(backend: Backend) {
    let s = setup(backend, 1_500_000).await;
    let capped = s.key(Some(1_000_000)).await;
    let purse = s.purse("one").await;
    let first = s.hold(&purse, &capped, 600_000).await.unwrap();
    assert_eq!(s.hold(&purse, &capped, 600_000).await.err(), Some(ReserveError::KeyQuotaExhausted));
    first.settle(&app::clock::new_id(), 500_000);
    purse.flush().await.unwrap();
    assert_eq!(s.key_totals(&capped).await.0, 500_000);
    let second = s.hold(&purse, &capped, 500_000).await.unwrap();
    assert_eq!(
        s.hold(&purse, &capped, 1).await.err(),
        Some(ReserveError::KeyQuotaExhausted),
        "spent plus held has reached the cap"
    );

    let uncapped = s.key(None).await;
    assert_eq!(
        s.hold(&purse, &uncapped, 600_000).await.err(),
        Some(ReserveError::InsufficientBalance),
        "1,000,000 left, 500,000 of it held"
    );
    assert_eq!(s.key_totals(&uncapped).await, (0, 0), "the key's hold was undone with the account's refusal");
    let roomy = s.key(Some(10_000_000)).await;
    assert_eq!(s.hold(&purse, &roomy, 600_000).await.err(), Some(ReserveError::InsufficientBalance));
    assert_eq!(s.key_totals(&roomy).await, (0, 0));
    assert_eq!(s.books().await, (1_000_000, 500_000));
    drop(second);
    purse.close().await;
    assert_eq!(s.books().await, (1_000_000, 0));
}

/// A crash leaves leases in the database: the same instance gives them back when it
/// starts again, any instance once its heartbeat is stale; a live instance's leases stay.
async fn leases_of_a_dead_instance_go_back(backend: Backend) {
    let s = setup(backend, 9_000_000).await;
    let (one, two) = (s.key(None).await, s.key(Some(5_000_000)).await);
    let crashed = s.purse("crashed").await;
    let held = [s.hold(&crashed, &one, 1_000_000).await.unwrap(), s.hold(&crashed, &two, 500_000).await.unwrap()];
    let alive = s.purse("alive").await;
    let kept = s.hold(&alive, &one, 100_000).await.unwrap();
    // The crash: the process is gone, its holds with it; nothing was written or given back.
    std::mem::forget(held);
    std::mem::forget(crashed);
    assert_eq!(s.leases().await, 3);

    // The app's own instance gives back leases of runs no longer registered too, so the
    // test counts what is left rather than who gave it back.
    s.purse("crashed").await;
    assert_eq!(s.leases().await, 1, "a restart gives back its own leases at once; the live instance keeps its lease");

    s.stop_heartbeat("alive").await;
    s.purse("third").await;
    assert_eq!(s.leases().await, 0, "the leases of an instance whose heartbeat is stale go back");
    assert_eq!(s.books().await, (9_000_000, 0), "given back, not charged");
    assert_eq!((s.key_totals(&one).await, s.key_totals(&two).await), ((0, 0), (0, 0)));

    // The instance whose lease was taken still charges what its requests used.
    kept.settle(&app::clock::new_id(), 70_000);
    alive.close().await;
    assert_eq!(s.books().await, (9_000_000 - 70_000, 0));
}

/// A lease is refilled before it runs dry, by more each time while grows come fast: the
/// hold that leaves it less than half full grows it in the background.
async fn a_busy_lease_is_refilled_ahead_of_demand(backend: Backend) {
    const AMOUNT: i64 = 1_000;
    let s = setup(backend, 10_000_000).await;
    let key = s.key(None).await;
    let purse = s.purse("one").await;
    let mut held = vec![s.hold(&purse, &key, AMOUNT).await.unwrap()];
    assert_eq!(s.key_totals(&key).await, (0, 16 * AMOUNT), "the first hold leases 16 requests' worth");
    while held.len() < 8 {
        held.push(s.hold(&purse, &key, AMOUNT).await.unwrap());
    }
    assert_eq!(s.key_totals(&key).await, (0, 16 * AMOUNT), "half full: no refill yet");

    // The ninth hold leaves room for 7: a refill of twice the last grow starts, and no
    // request waits for it.
    held.push(s.hold(&purse, &key, AMOUNT).await.unwrap());
    let mut reserved = 0;
    for _ in 0..100 {
        reserved = s.key_totals(&key).await.1;
        if reserved > 16 * AMOUNT {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(reserved, (16 + 32) * AMOUNT, "refilled in the background, doubled");

    drop(held);
    purse.close().await;
    assert_eq!(s.books().await, (10_000_000, 0), "the refill went back at close");
}

/// The ledger's one-charge-per-request index is the last guard: a request settled twice,
/// in one batch or again after its charge was written, is charged and audited once, and
/// the repeat's money goes back. The batch's other charges are written all the same.
async fn a_request_settled_twice_is_charged_once(backend: Backend) {
    let s = setup(backend, 5_000_000).await;
    let key = s.key(None).await;
    let purse = s.purse("one").await;
    let (first, second) = (app::clock::new_id(), app::clock::new_id());
    for (request_id, cost) in [(&first, 1_000), (&first, 2_000), (&second, 3_000)] {
        s.hold(&purse, &key, 10_000).await.unwrap().settle(request_id, cost);
    }
    purse.flush().await.unwrap();
    s.hold(&purse, &key, 10_000).await.unwrap().settle(&first, 4_000);
    purse.close().await;

    assert_eq!(s.books().await, (5_000_000 - 4_000, 0), "only the first settlement of each request");
    assert_eq!(s.key_totals(&key).await, (4_000, 0));
    let ledger = whole_ledger(&s.app, &s.admin, &s.account, 200).await;
    let mut charges: Vec<(String, i64)> = ledger
        .iter()
        .filter(|entry| entry["kind"] == "usage")
        .map(|entry| (entry["request_id"].as_str().unwrap().to_owned(), entry["amount"].as_i64().unwrap()))
        .collect();
    charges.sort();
    let mut expected = vec![(first.clone(), -1_000), (second.clone(), -3_000)];
    expected.sort();
    assert_eq!(charges, expected);
    let audited: Vec<(String, String)> =
        sqlx::query_as("SELECT after, target_id FROM audit_log WHERE action = 'billing.usage' ORDER BY created_at, id")
            .fetch_all(s.db.pool())
            .await
            .unwrap();
    let batch = r#"{"amount":-4000,"charges":2}"#.to_owned();
    assert_eq!(audited, vec![(batch, key)], "one audit row for the first batch's two charges, none for the repeat");
}

/// An instance presumed dead (its heartbeat stopped, as when the process is paused) whose
/// leases another instance gave back holds nothing more against them once it wakes: it
/// registers again and leases from what the database has left. It still charges what it
/// owes.
async fn an_instance_presumed_dead_holds_nothing_against_its_old_leases(backend: Backend) {
    const BALANCE: i64 = 10_000_000;
    const AMOUNT: i64 = 100_000;
    let stale_after = Duration::from_millis(900);
    let s = setup(backend, BALANCE).await;
    let key = s.key(None).await;
    let paused_instance = s.instance("paused", stale_after).await;
    let paused = s.purse_of(paused_instance.clone()).await;
    let owed = s.hold(&paused, &key, AMOUNT).await.unwrap();
    assert_eq!(s.key_totals(&key).await, (0, 16 * AMOUNT), "a lease with room for 15 more");

    s.stop_heartbeat("paused").await;
    let other = s.purse_of(s.instance("other", stale_after).await).await;
    assert_eq!(s.leases().await, 0, "the paused instance's lease went back");
    let mut drained = Vec::new();
    while let Ok(hold) = s.hold(&other, &key, AMOUNT).await {
        drained.push(hold);
    }
    assert_eq!(drained.len() as i64, BALANCE / AMOUNT, "the other instance holds the whole balance");

    // Past its trusted time, the paused instance confirms before holding: it finds itself
    // presumed dead, registers again and has no lease.
    tokio::time::sleep(stale_after * 2 / 3).await;
    assert_eq!(s.hold(&paused, &key, AMOUNT).await.err(), Some(ReserveError::InsufficientBalance));
    assert_eq!(paused_instance.run().generation, 1, "registered again as a new run");

    for hold in drained {
        hold.settle(&app::clock::new_id(), AMOUNT - 1_000);
    }
    other.close().await;
    assert_eq!(owed.settle(&app::clock::new_id(), 50_000), 50_000);
    paused.close().await;
    let charged = (BALANCE / AMOUNT) * (AMOUNT - 1_000) + 50_000;
    assert_eq!(s.books().await, (BALANCE - charged, 0), "what it owed is charged, once");
    assert_eq!(s.key_totals(&key).await, (charged, 0));
    assert_eq!(s.leases().await, 0);
}

on_both_backends!(
    an_instance_presumed_dead_holds_nothing_against_its_old_leases,
    a_request_settled_twice_is_charged_once,
    a_busy_lease_is_refilled_ahead_of_demand,
    concurrent_holds_never_overdraw,
    instances_sharing_a_database_never_overdraw,
    a_hold_is_charged_once_and_a_dropped_hold_is_free,
    unwritten_charges_count_against_the_balance,
    a_key_spend_cap_is_checked_before_the_balance,
    leases_of_a_dead_instance_go_back,
);
