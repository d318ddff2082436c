//! Changes to keys, models, channels, users and accounts reach the gateway's in-memory
//! tables before the change is answered: a key revoked here is refused by every request
//! this instance starts afterwards, and a key created here is accepted by the first.
//!
//! Each announcement takes a generation number; the gateway's refresher reads the newest
//! one *before* it reads the database, and publishes it once its new tables are in place.
//! An announcer waits until a generation at least its own is published: that reload began
//! after its write committed, so it holds the write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How long a change waits for the gateway; a database too slow for this still has the
/// change applied by the next reload, and the write itself has succeeded.
const WAIT_FOR_GATEWAY: Duration = Duration::from_secs(5);

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
