//! Models kept loaded between runs, within a memory budget.
//!
//! Loading Whisper or RIFE takes a fraction of a second to seconds; a server
//! keeps them for the next request. A long-lived process that sees many
//! models (a path per request, several Whisper sizes) must not keep them all:
//! past the budget, the least recently used are dropped. A run still using
//! one keeps its `Arc`, so eviction frees the memory when that run ends.

use std::sync::{Arc, Mutex};

/// Default budget per kind of model: 4 GiB.
pub const DEFAULT_BUDGET: u64 = 4 << 30;

pub struct Loaded<V> {
    state: Mutex<State<V>>,
}

struct State<V> {
    budget: u64,
    clock: u64,
    entries: Vec<Entry<V>>,
}

struct Entry<V> {
    key: String,
    bytes: u64,
    used: u64,
    value: Arc<V>,
}

impl<V> Loaded<V> {
    pub const fn new(budget: u64) -> Self {
        Self {
            state: Mutex::new(State {
                budget,
                clock: 0,
                entries: Vec::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State<V>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Change the budget (evicting at once what no longer fits).
    pub fn set_budget(&self, bytes: u64) {
        let mut s = self.state();
        s.budget = bytes;
        s.evict(None);
    }

    /// The value under `key`, or `load()`'s, kept as `bytes` of the budget.
    /// The lock is held while loading: two runs asking at once load once.
    pub fn get_or_load<E>(
        &self,
        key: &str,
        bytes: u64,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        let mut s = self.state();
        s.clock += 1;
        let now = s.clock;
        if let Some(e) = s.entries.iter_mut().find(|e| e.key == key) {
            e.used = now;
            return Ok(Arc::clone(&e.value));
        }
        let value = Arc::new(load()?);
        s.entries.push(Entry {
            key: key.to_string(),
            bytes,
            used: now,
            value: Arc::clone(&value),
        });
        s.evict(Some(key));
        Ok(value)
    }

    /// Keys loaded now, least recently used first.
    pub fn keys(&self) -> Vec<String> {
        let s = self.state();
        let mut e: Vec<_> = s.entries.iter().map(|e| (e.used, e.key.clone())).collect();
        e.sort();
        e.into_iter().map(|(_, k)| k).collect()
    }

    /// Bytes of the budget in use.
    pub fn bytes(&self) -> u64 {
        self.state().entries.iter().map(|e| e.bytes).sum()
    }
}

impl<V> State<V> {
    /// Drop least recently used entries until the rest fit, never `keep`
    /// (the one just loaded: a model larger than the budget is still used).
    fn evict(&mut self, keep: Option<&str>) {
        loop {
            let total: u64 = self.entries.iter().map(|e| e.bytes).sum();
            if total <= self.budget {
                return;
            }
            let victim = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| Some(e.key.as_str()) != keep)
                .min_by_key(|(_, e)| e.used)
                .map(|(i, _)| i);
            match victim {
                Some(i) => {
                    self.entries.swap_remove(i);
                }
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_models_are_evicted_past_the_budget() {
        let cache: Loaded<String> = Loaded::new(10);
        let loads = std::cell::Cell::new(0);
        let get = |k: &str, bytes: u64| {
            cache
                .get_or_load(k, bytes, || {
                    loads.set(loads.get() + 1);
                    Ok::<_, ()>(k.to_string())
                })
                .unwrap()
        };
        let a = get("a", 4);
        get("b", 4);
        get("a", 4); // a is now the most recent
        assert_eq!(loads.get(), 2);
        get("c", 4); // 12 > 10: b goes
        assert_eq!(cache.keys(), ["a", "c"]);
        assert_eq!(cache.bytes(), 8);
        get("b", 4);
        assert_eq!(loads.get(), 4, "b was loaded again");
        // A model over the whole budget is kept alone.
        get("huge", 50);
        assert_eq!(cache.keys(), ["huge"]);
        // A run still holding an evicted model keeps it working.
        assert_eq!(*a, "a");
        cache.set_budget(0);
        assert_eq!(cache.keys(), Vec::<String>::new());
    }
}
