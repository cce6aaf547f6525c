//! The remote tier: a bucket that many processes (replicas, machines) share
//! under their local caches, in the action-cache/CAS split of Bazel's
//! remote cache:
//!
//! ```text
//! PREFIX/cas/ab/abcdef…   blobs, named by the blake3 of their bytes, written once
//! PREFIX/ac/KEY.json      a stage key's manifest, written after its blobs
//! ```
//!
//! Nothing read from the bucket is trusted: every blob is hashed before it
//! enters the local store, and a blob whose bytes do not match is a miss
//! (reported, never used). Local stays the first tier: the remote is asked
//! only on a local miss, and a hit is recorded locally.

use crate::{hash_file, BlobRef, Cache, CacheError, Digest, Lease, Manifest, StageKey};
use std::fs;
use std::path::{Path, PathBuf};
use vantage_s3::Bucket;

/// Manifests are small; anything bigger under `ac/` is not ours.
const MANIFEST_LIMIT: u64 = 1 << 20;

/// What the remote tier had for a key.
#[derive(Debug)]
pub enum RemoteLookup {
    /// Recorded locally now, its blobs in the local store and leased.
    Hit(Manifest),
    Miss,
    /// The entry exists but cannot be used (why): treated as a miss.
    Corrupt(String),
}

pub(crate) fn manifest_key(key: &StageKey) -> String {
    format!("ac/{key}.json")
}

pub(crate) fn blob_key(digest: &crate::Digest) -> String {
    let hex = digest.to_hex();
    format!("cas/{}/{hex}", &hex[..2])
}

fn remote_err(e: vantage_s3::S3Error) -> CacheError {
    CacheError::Remote(e.to_string())
}

impl Cache {
    /// Share this cache through `bucket` (see the module docs).
    pub fn with_remote(mut self, bucket: Bucket) -> Self {
        self.remote = Some(bucket);
        self
    }

    /// `s3://bucket/prefix` of the remote tier, if there is one.
    pub fn remote(&self) -> Option<String> {
        self.remote.as_ref().map(Bucket::describe)
    }

    /// Look `key` up in the remote tier (blocking network work: call it off
    /// the async threads). Blobs the local store lacks are downloaded and
    /// verified against their digests.
    pub fn fetch_remote(
        &self,
        key: &StageKey,
        lease: &mut Lease,
    ) -> Result<RemoteLookup, CacheError> {
        let Some(bucket) = &self.remote else {
            return Ok(RemoteLookup::Miss);
        };
        let Some(raw) = bucket
            .get_bytes(&manifest_key(key), MANIFEST_LIMIT)
            .map_err(remote_err)?
        else {
            return Ok(RemoteLookup::Miss);
        };
        let manifest: Manifest = match serde_json::from_slice(&raw) {
            Ok(m) => m,
            Err(e) => {
                return Ok(RemoteLookup::Corrupt(format!(
                    "{}: not a manifest: {e}",
                    manifest_key(key)
                )))
            }
        };
        let scratch = self.scratch_dir("remote")?;
        let fetched = self.fetch_blobs(bucket, &manifest, &scratch, lease);
        let _ = fs::remove_dir_all(&scratch);
        if let Some(problem) = fetched? {
            return Ok(RemoteLookup::Corrupt(problem));
        }
        self.record(key, &manifest)?;
        Ok(RemoteLookup::Hit(manifest))
    }

    /// Download the blobs of `manifest` the local store lacks; `Some(why)`
    /// when one is missing or damaged remotely.
    fn fetch_blobs(
        &self,
        bucket: &Bucket,
        manifest: &Manifest,
        scratch: &std::path::Path,
        lease: &mut Lease,
    ) -> Result<Option<String>, CacheError> {
        for blob in manifest.outputs.values() {
            if let Some(problem) = self.fetch_one(bucket, blob, scratch, lease)? {
                return Ok(Some(problem));
            }
        }
        Ok(None)
    }

    /// Bring `blob` into the local store (leased) unless it is there;
    /// `Some(why)` when it is missing or damaged remotely.
    fn fetch_one(
        &self,
        bucket: &Bucket,
        blob: &BlobRef,
        scratch: &std::path::Path,
        lease: &mut Lease,
    ) -> Result<Option<String>, CacheError> {
        lease.hold(blob.digest);
        let local = self.blob_path(&blob.digest);
        if fs::metadata(&local).is_ok_and(|m| m.len() == blob.size) {
            return Ok(None);
        }
        let object = blob_key(&blob.digest);
        let tmp = scratch.join(blob.digest.to_hex());
        if !bucket.get_file(&object, &tmp).map_err(remote_err)? {
            return Ok(Some(format!("{object} is missing")));
        }
        let (digest, size) = hash_file(&tmp)?;
        if digest != blob.digest || size != blob.size {
            let _ = fs::remove_file(&tmp);
            return Ok(Some(format!(
                "{object} is damaged: its {size} bytes hash to {}, not {} ({} bytes)",
                digest.short(),
                blob.digest.short(),
                blob.size
            )));
        }
        self.put_file(&tmp, lease)?;
        Ok(None)
    }

    /// The local file whose bytes are `blob`, downloaded (and verified) from
    /// the remote tier when the local store lacks it: how a replica gets
    /// the inputs of a piece another one leads.
    pub fn fetch_blob(&self, blob: &BlobRef, lease: &mut Lease) -> Result<PathBuf, CacheError> {
        let Some(bucket) = &self.remote else {
            return Err(CacheError::Remote("no remote tier to fetch from".into()));
        };
        let scratch = self.scratch_dir("remote")?;
        let fetched = self.fetch_one(bucket, blob, &scratch, lease);
        let _ = fs::remove_dir_all(&scratch);
        match fetched? {
            Some(problem) => Err(CacheError::Remote(problem)),
            None => Ok(self.blob_path(&blob.digest)),
        }
    }

    /// Upload `path` (whose digest is `digest`) as a blob, unless the remote
    /// tier has it already: how a run hands its inputs to a peer.
    pub fn share_blob(&self, path: &Path, digest: Digest) -> Result<BlobRef, CacheError> {
        let Some(bucket) = &self.remote else {
            return Err(CacheError::Remote("no remote tier to share through".into()));
        };
        let size = fs::metadata(path)
            .map_err(crate::io_err(format!("reading {}", path.display())))?
            .len();
        let object = blob_key(&digest);
        if !bucket.exists(&object).map_err(remote_err)? {
            bucket.put_file(&object, path, true).map_err(remote_err)?;
        }
        Ok(BlobRef { digest, size })
    }

    /// Upload a recorded entry: its blobs (each once), then its manifest, so
    /// a reader never finds a manifest before its blobs.
    pub fn publish_remote(&self, key: &StageKey, manifest: &Manifest) -> Result<(), CacheError> {
        let Some(bucket) = &self.remote else {
            return Ok(());
        };
        for blob in manifest.outputs.values() {
            let path = self.blob_path(&blob.digest);
            bucket
                .put_file(&blob_key(&blob.digest), &path, true)
                .map_err(remote_err)?;
        }
        let raw = serde_json::to_vec(manifest).map_err(|e| CacheError::Corrupt {
            key: key.to_string(),
            reason: e.to_string(),
        })?;
        bucket
            .put_bytes(&manifest_key(key), &raw, true)
            .map_err(remote_err)?;
        Ok(())
    }
}
