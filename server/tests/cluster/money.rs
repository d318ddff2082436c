//! Money across instances: 64 requests at once against a balance that covers 10.
//! The model's prices are 1 micro-unit per input token and 2 per output token.

use crate::harness::{error_code, run_alone, Cluster, Options};
use crate::mock::Mock;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// What the mock's `slow` answer (11 prompt, 7 completion tokens) costs.
const OK_COST: i64 = 11 + 14;
const AFFORDABLE: i64 = 10;
const REQUESTS: usize = 64;

fn hello() -> Value {
    json!({"model": "slow", "messages": [{"role": "user", "content": "hello gateway world"}]})
}

/// One request's hold, read from the refusal of an account that has nothing.
async fn hold_of(cluster: &Cluster) -> i64 {
    let empty = cluster.account_with("Empty", 0).await;
    let key = cluster.key_on(&empty, json!({})).await;
    cluster.wait_for_model(&key, "slow").await;
    let refusal: Value = cluster.chat(0, &key, &hello()).await.json().await.unwrap();
    assert_eq!(refusal["error"]["code"], "insufficient_balance", "{refusal}");
    let message = refusal["error"]["message"].as_str().unwrap();
    message.split("up to ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap().parse().unwrap()
}

/// The books of `account` once no money is held any more (idle leases go back after a
/// couple of seconds): `(balance, sum of the ledger)`.
async fn settled_books(cluster: &Cluster, account: &str) -> (i64, i64) {
    let mut conn = cluster.database.connect().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let leases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leases").fetch_one(&mut conn).await.unwrap();
        let (balance, reserved): (i64, i64) = sqlx::query_as("SELECT balance, reserved FROM accounts WHERE id = $1")
            .bind(account)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let keys_reserved: i64 =
            sqlx::query_scalar("SELECT COALESCE(SUM(reserved), 0)::BIGINT FROM api_keys WHERE account_id = $1")
                .bind(account)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        if (leases, reserved, keys_reserved) == (0, 0, 0) {
            let ledger: i64 =
                sqlx::query_scalar("SELECT COALESCE(SUM(amount), 0)::BIGINT FROM ledger_entries WHERE account_id = $1")
                    .bind(account)
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
            return (balance, ledger);
        }
        assert!(
            Instant::now() < deadline,
            "money still held: {leases} leases, account reserved {reserved}, keys reserved {keys_reserved}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Which instances hold leases of money now. Leases are named by the instance id, or,
/// once instances register their runs, by the run (`instances.run_id`) of an instance.
async fn lease_holders(cluster: &Cluster) -> Vec<String> {
    let mut conn = cluster.database.connect().await;
    let by_run: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'leases' AND column_name = 'run_id')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let holders = if by_run {
        "SELECT DISTINCT COALESCE(i.instance_id, 'a past run ' || l.run_id) FROM leases l
         LEFT JOIN instances i ON i.run_id = l.run_id ORDER BY 1"
    } else {
        "SELECT DISTINCT instance_id FROM leases ORDER BY 1"
    };
    sqlx::query_scalar(holders).fetch_all(&mut conn).await.unwrap()
}

/// `count` requests at once, request `n` to instance `(n + offset) % 3`.
fn wave(cluster: &Cluster, key: &str, count: usize, offset: usize) -> Vec<tokio::task::JoinHandle<Answer>> {
    (0..count)
        .map(|n| {
            let url = cluster.url((n + offset) % cluster.len(), "/v1/chat/completions");
            let (client, key) = (cluster.client.clone(), key.to_owned());
            tokio::spawn(async move {
                match client.post(url).bearer_auth(key).json(&hello()).send().await {
                    Ok(response) => Some(error_code(response).await),
                    Err(_) => None,
                }
            })
        })
        .collect()
}

/// A status and error code, or `None` when the connection was cut.
type Answer = Option<(StatusCode, String)>;

/// 64 requests at once, round-robin. With `crash`, instance 2 is killed with `kill -9`
/// while its requests hold money and started again (same instance id) while the others'
/// still do; the restart gives back its own leases only, and a second wave of 30
/// requests, the restarted instance included, finds no more money than is left.
async fn sixty_four_against_ten(crash: bool) {
    let mock = Mock::start().await;
    let mut cluster = Cluster::start(Options::cluster()).await;
    cluster.upstream_model("slow", &mock.url("slow")).await;
    let hold = hold_of(&cluster).await;
    let funds = AFFORDABLE * hold + hold / 2;
    let account = cluster.account_with("Tight", funds).await;
    let key = cluster.key_on(&account, json!({})).await;

    let mut requests = wave(&cluster, &key, REQUESTS, 0);
    if crash {
        let deadline = Instant::now() + Duration::from_secs(5);
        while mock.in_flight() < AFFORDABLE as usize {
            assert!(Instant::now() < deadline, "the requests never reached the upstream");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let before = lease_holders(&cluster).await;
        cluster.kill9(1);
        cluster.restart(1).await;
        let after = lease_holders(&cluster).await;
        assert!(mock.in_flight() > 0, "the survivors' requests are still in flight");
        eprintln!("leases held by {before:?} before the crash, by {after:?} after the restart");
        for live in before.iter().filter(|id| *id != "instance-2") {
            assert!(after.contains(live), "the restart gave back the live leases of {live}: {before:?} then {after:?}");
        }
        requests.extend(wave(&cluster, &key, 30, 0));
    }
    let total = requests.len() as i64;
    let answers: Vec<Answer> = futures_util::future::join_all(requests).await.into_iter().map(Result::unwrap).collect();
    let succeeded = answers.iter().filter(|a| matches!(a, Some((StatusCode::OK, _)))).count() as i64;
    let refused = answers
        .iter()
        .filter(|a| matches!(a, Some((s, c)) if *s == StatusCode::PAYMENT_REQUIRED && c == "insufficient_balance"))
        .count() as i64;
    let cut = answers.iter().filter(|a| a.is_none()).count() as i64;
    eprintln!("{succeeded} answered, {refused} refused for the balance, {cut} cut by the crash");
    assert_eq!(succeeded + refused + cut, total, "nothing else: {answers:?}");
    assert!(succeeded <= AFFORDABLE, "{succeeded} requests held money where the balance covers {AFFORDABLE}");
    if crash {
        assert!(cut > 0 && succeeded > 0, "the crash cut requests, the others were answered");
    } else {
        assert_eq!((succeeded, cut), (AFFORDABLE, 0), "exactly what the balance covers");
    }

    let (balance, ledger) = settled_books(&cluster, &account).await;
    assert_eq!(balance, ledger, "balance == sum(ledger)");
    assert!(balance >= 0, "overdrawn: {balance}");
    // A crashed instance's requests never got their answer: they cost nothing.
    assert_eq!(funds - balance, succeeded * OK_COST, "charged exactly the answered requests");
    for i in 0..cluster.len() {
        assert!(cluster.alive(i), "instance {} is still running", i + 1);
    }
}

#[tokio::test]
async fn sixty_four_requests_over_three_instances_never_overdraw() {
    run_alone(sixty_four_against_ten(false)).await
}

#[tokio::test]
async fn sixty_four_requests_never_overdraw_when_an_instance_is_killed_and_restarted() {
    run_alone(sixty_four_against_ten(true)).await
}
