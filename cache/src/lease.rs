//! Leases: blobs a run in this process holds, which `gc` and `verify` leave alone.
//!
//! A blob is leased from the moment a run publishes it (before its manifest is
//! recorded) or finds it in a cache entry (before a later stage reads it) until
//! the run lets go of its [`Lease`]. Many runs share one [`Cache`](crate::Cache),
//! so a `gc` from a server's maintenance task, or from another request, must
//! not delete what a running pipeline is about to use.

use crate::Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// How many leases hold each digest, for the whole process.
#[derive(Clone, Default)]
pub(crate) struct Leases(Arc<Mutex<HashMap<Digest, usize>>>);

impl Leases {
    /// The table, locked: `gc` holds it while it checks and deletes one blob,
    /// so a lease cannot be taken between the check and the delete.
    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<Digest, usize>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One run's hold on the blobs it has published or is going to read.
/// Dropping it releases them.
pub struct Lease {
    leases: Leases,
    held: Vec<Digest>,
}

impl Lease {
    pub(crate) fn new(leases: Leases) -> Self {
        Self {
            leases,
            held: Vec::new(),
        }
    }

    /// Hold `digest` until this lease is dropped.
    pub fn hold(&mut self, digest: Digest) {
        *self.leases.lock().entry(digest).or_insert(0) += 1;
        self.held.push(digest);
    }

    /// Take over what `other` holds (without releasing it in between).
    pub fn absorb(&mut self, mut other: Lease) {
        self.held.append(&mut other.held);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut table = self.leases.lock();
        for d in &self.held {
            if let Some(n) = table.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    table.remove(d);
                }
            }
        }
    }
}
