//! Changes to keys, models, channels, users and accounts reach the gateway's in-memory
//! tables before the change is answered: a key revoked here is refused by every request
//! this instance starts afterwards, and a key created here is accepted by the first.
//!
//! Each announcement takes a generation number; the gateway's refresher reads the newest
//! one *before* it reads the database, and publishes it once its new tables are in place.
//! An announcer waits until a generation at least its own is published: that reload began
//! after its write committed, so it holds the write.
//!
//! On PostgreSQL the other instances hear of the change at once: the announcer NOTIFYs a
//! channel every instance LISTENs on, and each reloads. The periodic reload stays as the
//! backstop for a notification lost with a connection. SQLite serves one instance.

use crate::db::{Backend, Db};
use sqlx::postgres::PgListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How long a change waits for the gateway; a database too slow for this still has the
/// change applied by the next reload, and the write itself has succeeded.
const WAIT_FOR_GATEWAY: Duration = Duration::from_secs(5);
/// The PostgreSQL notification channel; the payload is the announcing instance's id.
const CHANNEL: &str = "tollgate_catalog";
/// Between attempts to listen again after the connection was lost.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

pub struct CatalogChanges {
    announced: AtomicU64,
    wake: Notify,
    applied: watch::Sender<u64>,
}

impl Default for CatalogChanges {
    fn default() -> Self {
        CatalogChanges { announced: AtomicU64::new(0), wake: Notify::new(), applied: watch::Sender::new(0) }
    }
}

impl CatalogChanges {
    /// Called after a change is committed; returns once the gateway enforces it.
    pub async fn announce(&self) {
        let generation = self.announced.fetch_add(1, Ordering::SeqCst) + 1;
        let mut applied = self.applied.subscribe();
        self.wake.notify_one();
        let waited = tokio::time::timeout(WAIT_FOR_GATEWAY, applied.wait_for(|applied| *applied >= generation)).await;
        if waited.is_err() {
            tracing::warn!(
                generation,
                "the gateway did not reload within {WAIT_FOR_GATEWAY:?}; the next reload applies the change"
            );
        }
    }

    /// For the refresher: waits for an announcement (or the caller's own timer elsewhere).
    pub async fn announced(&self) {
        self.wake.notified().await
    }

    /// For the refresher, before it reads the database: the generation the reload covers.
    pub fn begin_reload(&self) -> u64 {
        self.announced.load(Ordering::SeqCst)
    }

    /// For the refresher, once the reloaded tables serve requests.
    pub fn reloaded(&self, generation: u64) {
        self.applied.send_if_modified(|applied| {
            let newer = generation > *applied;
            *applied = (*applied).max(generation);
            newer
        });
    }

    /// Runs until dropped (PostgreSQL): reloads on every change another instance
    /// announces, and once each time listening starts, for the changes not heard meanwhile.
    pub async fn follow_other_instances(self: Arc<Self>, database_url: String, own_instance: String) {
        let mut listening_failed = false;
        loop {
            let lost = match listen(&database_url).await {
                Ok(listener) => {
                    listening_failed = false;
                    self.follow(listener, &own_instance).await
                }
                Err(err) => err,
            };
            if !listening_failed {
                tracing::warn!(error = %lost, "not hearing of other instances' changes; until it is back, they apply at the periodic reload");
                listening_failed = true;
            }
            tokio::time::sleep(RELISTEN_AFTER).await;
        }
    }

    /// Reloads on each notification until the listener fails beyond its own reconnecting.
    async fn follow(&self, mut listener: PgListener, own_instance: &str) -> sqlx::Error {
        self.wake.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(change)) if change.payload() != own_instance => self.wake.notify_one(),
                // This instance reloaded before it answered the change.
                Ok(Some(_)) => {}
                // The listener reconnected: what was announced in between was not heard.
                Ok(None) => {
                    tracing::info!("listening for other instances' changes again; reloading");
                    self.wake.notify_one()
                }
                Err(err) => return err,
            }
        }
    }
}

async fn listen(database_url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// After a change is committed: tells the other instances (PostgreSQL) to reload. One that
/// does not hear it applies the change at its periodic reload.
pub async fn tell_other_instances(db: &Db, own_instance: &str) {
    if db.backend() != Backend::Postgres {
        return;
    }
    // pg_notify takes parameters (NOTIFY does not); selecting from it returns no `void` column.
    let told = sqlx::query("SELECT 1 FROM pg_notify($1, $2)").bind(CHANNEL).bind(own_instance).execute(db.pool()).await;
    if let Err(err) = told {
        tracing::warn!(error = %err, "could not tell the other instances of a change; they apply it at their periodic reload");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn an_announcement_returns_only_after_a_reload_that_began_after_it() {
        let changes = Arc::new(CatalogChanges::default());
        let stale = changes.begin_reload();
        let announcer = tokio::spawn({
            let changes = changes.clone();
            async move { changes.announce().await }
        });
        changes.announced().await;
        // A reload that began before the announcement does not count.
        changes.reloaded(stale);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!announcer.is_finished());
        let fresh = changes.begin_reload();
        changes.reloaded(fresh);
        tokio::time::timeout(Duration::from_secs(1), announcer).await.expect("released").unwrap();
    }
}
