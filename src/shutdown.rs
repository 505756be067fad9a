//! One cancellation path for the whole process: SIGTERM or SIGINT triggers it once; the HTTP
//! server stops accepting and drains, and every background worker (mail, ticker, webhooks,
//! sealing, purge, the sync daemon) finishes the item in its hands and returns instead of being
//! aborted; then the store is flushed.

use tokio::sync::watch;

/// What a worker watches.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// What starts the shutdown.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// A trigger and the first of its watchers (clone it for each worker).
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (ShutdownTrigger(sender), Shutdown(receiver))
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown is requested (at once if it was).
    pub async fn requested(&mut self) {
        let _ = self.0.wait_for(|requested| *requested).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_watcher_sees_the_one_trigger() {
        let (trigger, first) = channel();
        let mut second = first.clone();
        assert!(!first.is_requested());
        let waiting = tokio::spawn(async move {
            second.requested().await;
            second.is_requested()
        });
        trigger.trigger();
        assert!(waiting.await.unwrap());
        assert!(first.is_requested());
    }
}
