//! Identical stage runs in flight at once run once.
//!
//! Two requests for the same clip (or two stages of one pipeline with equal
//! keys) would compute the same outputs side by side. The first to claim a
//! key leads; the others follow: they wait until the leader is gone, then look
//! the key up in the cache again. A leader that succeeded has recorded its
//! manifest by then; one that failed or was cancelled has not, and a follower
//! claims the key and runs the stage itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use vantage_cache::StageKey;

#[derive(Clone, Default)]
pub(crate) struct InFlight(Arc<Mutex<HashMap<StageKey, watch::Receiver<()>>>>);

pub(crate) enum Claim {
    Lead(Leader),
    Follow(Follower),
}

impl InFlight {
    pub(crate) fn claim(&self, key: StageKey) -> Claim {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = map.get(&key) {
            return Claim::Follow(Follower(rx.clone()));
        }
        let (tx, rx) = watch::channel(());
        map.insert(key, rx);
        Claim::Lead(Leader {
            key,
            map: self.clone(),
            _tx: tx,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// Held by the run computing a key; dropping it (after the manifest is
/// recorded, or on failure) releases the followers.
pub(crate) struct Leader {
    key: StageKey,
    map: InFlight,
    _tx: watch::Sender<()>,
}

impl Drop for Leader {
    fn drop(&mut self) {
        // Out of the map first, so a woken follower that claims again leads.
        let mut map = self.map.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&self.key);
    }
}

pub(crate) struct Follower(watch::Receiver<()>);

impl Follower {
    /// Returns once the leader is gone.
    pub(crate) async fn wait(mut self) {
        while self.0.changed().await.is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn key(n: u32) -> StageKey {
        StageKey::new("k", n, &BTreeMap::new(), &BTreeMap::new(), &[])
    }

    #[tokio::test]
    async fn the_second_claim_follows_until_the_leader_is_gone() {
        let inflight = InFlight::default();
        let Claim::Lead(leader) = inflight.claim(key(1)) else {
            panic!("first claim must lead");
        };
        assert!(matches!(inflight.claim(key(2)), Claim::Lead(_)));
        let Claim::Follow(follower) = inflight.claim(key(1)) else {
            panic!("second claim must follow");
        };
        let waiting = tokio::spawn(follower.wait());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        drop(leader);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("follower released")
            .unwrap();
        assert_eq!(inflight.len(), 0);
        assert!(matches!(inflight.claim(key(1)), Claim::Lead(_)));
    }
}
