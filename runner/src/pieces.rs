//! [`Pieces`] for a stage run: each piece is a cache entry of its own,
//! keyed by the run's key and the piece's label, looked up locally, then in
//! the remote tier, and shared there when kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use vantage_cache::{Cache, CacheError, Lease, Manifest, RemoteLookup, StageKey};
use vantage_core::{Pieces, StageError};

pub(crate) struct CachedPieces {
    cache: Arc<Cache>,
    key: StageKey,
    stage: String,
    kind: String,
    /// Holds found and kept pieces until the run ends.
    lease: Mutex<Lease>,
}

const OUTPUT: &str = "piece";

fn cache_err(e: CacheError) -> StageError {
    StageError::internal(format!("cache: {e}"))
}

impl CachedPieces {
    pub fn new(cache: Arc<Cache>, key: StageKey, stage: &str, kind: &str) -> Self {
        let lease = Mutex::new(cache.lease());
        Self {
            cache,
            key,
            stage: stage.to_string(),
            kind: kind.to_string(),
            lease,
        }
    }

    fn with_lease<T>(&self, f: impl FnOnce(&mut Lease) -> T) -> T {
        let mut lease = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut lease)
    }

    fn path_of(&self, manifest: &Manifest) -> Option<PathBuf> {
        manifest
            .outputs
            .get(OUTPUT)
            .map(|b| self.cache.blob_path(&b.digest))
    }
}

impl Pieces for CachedPieces {
    fn find(&self, label: &str) -> Result<Option<PathBuf>, StageError> {
        let key = self.key.piece(label);
        if let Some(m) = self
            .with_lease(|l| self.cache.lookup(&key, l))
            .map_err(cache_err)?
        {
            return Ok(self.path_of(&m));
        }
        if self.cache.remote().is_none() {
            return Ok(None);
        }
        // The remote tier is a help, not a requirement: unreachable or
        // damaged means this run makes the piece itself.
        match self.with_lease(|l| self.cache.fetch_remote(&key, l)) {
            Ok(RemoteLookup::Hit(m)) => Ok(self.path_of(&m)),
            Ok(_) | Err(_) => Ok(None),
        }
    }

    fn keep(&self, label: &str, path: &Path) -> Result<PathBuf, StageError> {
        let key = self.key.piece(label);
        let blob = self
            .with_lease(|l| self.cache.put_file(path, l))
            .map_err(cache_err)?;
        let manifest = Manifest {
            stage: format!("{}#{label}", self.stage),
            kind: self.kind.clone(),
            created_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            seconds: 0.0,
            outputs: [(OUTPUT.to_string(), blob.clone())].into(),
        };
        self.cache.record(&key, &manifest).map_err(cache_err)?;
        // Shared for other replicas; a failed upload only costs them the piece.
        let _ = self.cache.publish_remote(&key, &manifest);
        Ok(self.cache.blob_path(&blob.digest))
    }
}
