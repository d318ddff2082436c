//! Usage rows leave the request's path through a channel and reach the database in
//! batches. A failed write keeps the rows and retries; `flush` is awaited at shutdown.
//! The rows not yet written are counted, so the gateway can stop admitting requests
//! before they pile up (`backlog`): a row once queued is never dropped.

use app::clock::now_ms;
use app::db::Db;
use app::keys::store as keys_store;
use app::usage::{store, UsageRecord};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Rows go through their own channel, which the writer reads once per interval; flushes
/// through another, which wakes it at once.
#[derive(Clone)]
pub struct UsageWriter {
    rows: mpsc::UnboundedSender<UsageRecord>,
    flushes: mpsc::UnboundedSender<oneshot::Sender<()>>,
    /// Rows queued and not yet in the database.
    unwritten: Arc<AtomicUsize>,
}

impl UsageWriter {
    pub fn spawn(db: Db, interval: Duration) -> (UsageWriter, JoinHandle<()>) {
        let (rows, queued) = mpsc::unbounded_channel();
        let (flushes, asked) = mpsc::unbounded_channel();
        let unwritten = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(run(db, queued, asked, interval, unwritten.clone()));
        (UsageWriter { rows, flushes, unwritten }, task)
    }

    /// Queues a row; never blocks (safe in `Drop`).
    pub fn record(&self, row: UsageRecord) {
        self.unwritten.fetch_add(1, Ordering::Relaxed);
        if self.rows.send(row).is_err() {
            self.unwritten.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("usage writer stopped; a usage row was lost");
        }
    }

    /// How many queued rows are not yet in the database.
    pub fn backlog(&self) -> usize {
        self.unwritten.load(Ordering::Relaxed)
    }

    /// Waits until every row queued before this call is in the database.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.flushes.send(done).is_ok() {
            let _ = written.await;
        }
    }
}

/// Writes what was queued once per interval, or at once when a flush asks. Waking for
/// each row (a `recv` per row) cost a task switch per request, often a thread wake-up.
async fn run(
    db: Db,
    mut queued: mpsc::UnboundedReceiver<UsageRecord>,
    mut asked: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    interval: Duration,
    unwritten: Arc<AtomicUsize>,
) {
    let mut pending: Vec<UsageRecord> = Vec::new();
    let mut ticker = tokio::time::interval(interval);
    loop {
        let flush = tokio::select! {
            _ = ticker.tick() => None,
            flush = asked.recv() => match flush {
                Some(done) => Some(done),
                // Every writer handle is gone: write what is left and stop.
                None => {
                    take_queued(&mut queued, &mut pending);
                    write(&db, &mut pending, &unwritten).await;
                    return;
                }
            },
        };
        take_queued(&mut queued, &mut pending);
        match flush {
            Some(done) => {
                while !pending.is_empty() && !write(&db, &mut pending, &unwritten).await {
                    tokio::time::sleep(interval).await;
                }
                let _ = done.send(());
            }
            None => {
                write(&db, &mut pending, &unwritten).await;
            }
        }
    }
}

fn take_queued(queued: &mut mpsc::UnboundedReceiver<UsageRecord>, pending: &mut Vec<UsageRecord>) {
    while let Ok(row) = queued.try_recv() {
        pending.push(row);
    }
}

/// Writes and clears `pending` (taking it off `unwritten`); on failure keeps it for the next try.
async fn write(db: &Db, pending: &mut Vec<UsageRecord>, unwritten: &AtomicUsize) -> bool {
    if pending.is_empty() {
        return true;
    }
    if let Err(err) = store::insert_batch(db, pending).await {
        tracing::error!(error = %err, rows = pending.len(), "writing usage rows failed; will retry");
        return false;
    }
    unwritten.fetch_sub(pending.len(), Ordering::Relaxed);
    let mut keys: Vec<String> = pending.iter().filter_map(|row| row.key_id.clone()).collect();
    keys.sort_unstable();
    keys.dedup();
    if let Err(err) = keys_store::touch_last_used(db, &keys, now_ms()).await {
        tracing::warn!(error = %err, "could not update keys' last use");
    }
    pending.clear();
    true
}
