//! Usage rows leave the request's path through a channel and reach the database in
//! batches. A failed write keeps the rows and retries; `flush` is awaited at shutdown.

use app::clock::now_ms;
use app::db::Db;
use app::keys::store as keys_store;
use app::usage::{store, UsageRecord};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const BATCH: usize = 500;

enum Message {
    Row(Box<UsageRecord>),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct UsageWriter {
    sender: mpsc::UnboundedSender<Message>,
}

impl UsageWriter {
    pub fn spawn(db: Db, interval: Duration) -> (UsageWriter, JoinHandle<()>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (UsageWriter { sender }, tokio::spawn(run(db, receiver, interval)))
    }

    /// Queues a row; never blocks (safe in `Drop`).
    pub fn record(&self, row: UsageRecord) {
        if self.sender.send(Message::Row(Box::new(row))).is_err() {
            tracing::error!("usage writer stopped; a usage row was lost");
        }
    }

    /// Waits until every row queued before this call is in the database.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }
}

async fn run(db: Db, mut receiver: mpsc::UnboundedReceiver<Message>, interval: Duration) {
    let mut pending: Vec<UsageRecord> = Vec::new();
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            message = receiver.recv() => match message {
                Some(Message::Row(row)) => {
                    pending.push(*row);
                    if pending.len() >= BATCH {
                        write(&db, &mut pending).await;
                    }
                }
                Some(Message::Flush(done)) => {
                    while !pending.is_empty() && !write(&db, &mut pending).await {
                        tokio::time::sleep(interval).await;
                    }
                    let _ = done.send(());
                }
                None => {
                    write(&db, &mut pending).await;
                    return;
                }
            },
            _ = ticker.tick() => {
                write(&db, &mut pending).await;
            }
        }
    }
}

/// Writes and clears `pending`; on failure keeps it for the next try.
async fn write(db: &Db, pending: &mut Vec<UsageRecord>) -> bool {
    if pending.is_empty() {
        return true;
    }
    if let Err(err) = store::insert_batch(db, pending).await {
        tracing::error!(error = %err, rows = pending.len(), "writing usage rows failed; will retry");
        return false;
    }
    let mut keys: Vec<String> = pending.iter().filter_map(|row| row.key_id.clone()).collect();
    keys.sort_unstable();
    keys.dedup();
    if let Err(err) = keys_store::touch_last_used(db, &keys, now_ms()).await {
        tracing::warn!(error = %err, "could not update keys' last use");
    }
    pending.clear();
    true
}
