//! Content-addressed artifact store.
//!
//! Layout under the cache root:
//!
//! ```text
//! blobs/ab/abcdef…   immutable artifacts, named by the blake3 of their bytes
//! tmp/               stage scratch space (same filesystem, so a rename publishes)
//! index/             sled: stage key -> manifest, input file memo, last use
//! lock               held by the one process that has the cache open
//! ```
//!
//! One [`Cache`] per process, shared by every run in it (`Arc<Cache>`): runs
//! take [`Lease`]s on the blobs they publish and read, and `gc`/`verify` leave
//! leased blobs alone. Another process waits for the lock
//! ([`Cache::open_waiting`]).
//!
//! Crash safety: a blob is fully written and fsynced before it is renamed into
//! `blobs/`, and a manifest is inserted (and the index flushed) only after all
//! its blobs are in place. A `kill -9` can leave an orphan blob (collected by
//! `gc`) but never an index entry pointing at a missing or partial blob.
//!
//! * this file: [`Cache`]: blobs, the index, the input-file memo, `gc`, `verify`.
//! * `digest`: [`Digest`], blake3 as hex.
//! * `key`: [`StageKey`], the cache key of one stage run.
//! * `lease`: [`Lease`]s on blobs that runs hold.
//! * `lock`: the process lock and waiting for it.
//! * `remote`: the shared tier in an S3 bucket ([`Cache::with_remote`]).

mod digest;
mod key;
mod lease;
mod lock;
mod remote;

pub use digest::Digest;
pub use key::StageKey;
pub use lease::Lease;
use lease::Leases;
pub use remote::RemoteLookup;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("the cache at {} is in use by another vantage process (waited {:.0} s); wait for it to finish or pass a different --cache-dir", root.display(), waited.as_secs_f64())]
    Locked { root: PathBuf, waited: Duration },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("cache index: {0}")]
    Index(#[from] sled::Error),
    #[error("cache index entry {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("remote cache: {0}")]
    Remote(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> CacheError {
    let context = context.into();
    move |source| CacheError::Io { context, source }
}

/// One stored artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
}

/// What a finished stage run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Stage name in the pipeline and stage type, for humans reading `cache stats`.
    pub stage: String,
    pub kind: String,
    pub created_unix: u64,
    pub seconds: f64,
    pub outputs: BTreeMap<String, BlobRef>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    pub entries: usize,
    pub blobs: usize,
    pub blob_bytes: u64,
    pub unreferenced_blobs: usize,
    pub memoised_files: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GcReport {
    pub entries_removed: usize,
    pub blobs_removed: usize,
    pub bytes_freed: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VerifyReport {
    pub entries_checked: usize,
    pub blobs_checked: usize,
    /// Entries removed because a blob was missing or its bytes no longer match its digest.
    pub broken_entries: Vec<String>,
}

/// Remembered digest of a user's input file, keyed by where and what it is.
#[derive(Serialize, Deserialize)]
struct FileMemo {
    size: u64,
    mtime_ns: i128,
    inode: u64,
    digest: Digest,
    /// When the bytes were read (memos from before this field count as racy).
    #[serde(default)]
    hashed_ns: i128,
}

/// A file modified this close to (or after) the moment it was hashed may have
/// changed again within the same mtime tick: git's "racily clean" case. Its
/// memo is not trusted; 2 s covers the coarsest filesystem clocks (FAT, SMB).
const RACY_NS: i128 = 2_000_000_000;

impl FileMemo {
    fn matches(&self, size: u64, mtime_ns: i128, inode: u64) -> bool {
        let settled = self.hashed_ns - self.mtime_ns > RACY_NS;
        settled && self.size == size && self.mtime_ns == mtime_ns && self.inode == inode
    }
}

pub struct Cache {
    root: PathBuf,
    entries: sled::Tree,
    last_used: sled::Tree,
    files: sled::Tree,
    checked: sled::Tree,
    db: sled::Db,
    leases: Leases,
    /// Makes scratch and delivery names unique within the process.
    serial: AtomicU64,
    /// The shared tier under this one, if any.
    remote: Option<vantage_s3::Bucket>,
    _lock: fs::File,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

impl Cache {
    /// Open (creating if needed) the cache at `root`, failing at once with
    /// [`CacheError::Locked`] if another process has it. Holds an exclusive
    /// lock until dropped.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, CacheError> {
        Self::open_waiting(root, Duration::ZERO, &mut || {})
    }

    /// Open the cache at `root`, waiting up to `wait` for another process that
    /// holds it; `on_wait` is called once if it has to wait.
    pub fn open_waiting(
        root: impl Into<PathBuf>,
        wait: Duration,
        on_wait: &mut dyn FnMut(),
    ) -> Result<Self, CacheError> {
        let root = root.into();
        for dir in ["blobs", "tmp"] {
            fs::create_dir_all(root.join(dir))
                .map_err(io_err(format!("creating {}", root.join(dir).display())))?;
        }
        let lock = lock::acquire(&root, wait, on_wait)?;
        let db = sled::Config::new().path(root.join("index")).open()?;
        // We hold the lock, so anything left in tmp/ belongs to a killed run.
        if let Ok(dir) = fs::read_dir(root.join("tmp")) {
            for entry in dir.flatten() {
                let _ = fs::remove_dir_all(entry.path()).or_else(|_| fs::remove_file(entry.path()));
            }
        }
        Ok(Self {
            entries: db.open_tree("entries")?,
            last_used: db.open_tree("last_used")?,
            files: db.open_tree("files")?,
            checked: db.open_tree("checked_inputs")?,
            root,
            db,
            leases: Leases::default(),
            serial: AtomicU64::new(0),
            remote: None,
            _lock: lock,
        })
    }

    /// An empty lease for one run (see [`Lease`]).
    pub fn lease(&self) -> Lease {
        Lease::new(self.leases.clone())
    }

    /// A name no other call in this process gets: `pid-serial`.
    pub fn unique_suffix(&self) -> String {
        let n = self.serial.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", std::process::id())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh scratch directory on the cache's filesystem.
    pub fn scratch_dir(&self, label: &str) -> Result<PathBuf, CacheError> {
        let safe: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = self
            .root
            .join("tmp")
            .join(format!("{safe}-{}", self.unique_suffix()));
        fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        Ok(dir)
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.to_hex();
        self.root.join("blobs").join(&hex[..2]).join(hex)
    }

    /// Move a finished file into the store (atomically) and return its
    /// reference. `lease` holds the blob from before it is published, so a
    /// concurrent `gc` cannot take it before its manifest is recorded.
    pub fn put_file(&self, path: &Path, lease: &mut Lease) -> Result<BlobRef, CacheError> {
        let (digest, size) = hash_file(path)?;
        lease.hold(digest);
        let dest = self.blob_path(&digest);
        // Content addressing makes an existing blob of the right size the same bytes
        // (`verify` removes blobs whose bytes changed).
        if fs::metadata(&dest).is_ok_and(|m| m.len() == size) {
            let _ = fs::remove_file(path);
            return Ok(BlobRef { digest, size });
        }
        let _ = fs::remove_file(&dest);
        let parent = dest.parent().unwrap_or(&self.root);
        fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
        fs::File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(io_err(format!("syncing {}", path.display())))?;
        let mut perms = fs::metadata(path)
            .map_err(io_err(format!("reading {}", path.display())))?
            .permissions();
        perms.set_readonly(true);
        let _ = fs::set_permissions(path, perms);
        match fs::rename(path, &dest) {
            Ok(()) => {}
            // Not on the same filesystem (a stage wrote elsewhere): copy, then publish.
            Err(_) => {
                let scratch = self.scratch_dir("copy")?;
                let tmp = scratch.join("blob");
                let copied = fs::copy(path, &tmp)
                    .and_then(|_| fs::File::open(&tmp)?.sync_all())
                    .and_then(|()| fs::rename(&tmp, &dest));
                let _ = fs::remove_dir_all(&scratch);
                copied.map_err(io_err(format!("publishing {}", dest.display())))?;
            }
        }
        if let Ok(d) = fs::File::open(parent) {
            let _ = d.sync_all();
        }
        Ok(BlobRef { digest, size })
    }

    /// Store bytes as a blob (tests build cache states with it).
    #[cfg(test)]
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<BlobRef, CacheError> {
        let dir = self.scratch_dir("bytes")?;
        let path = dir.join("blob");
        fs::write(&path, bytes).map_err(io_err("writing scratch blob"))?;
        let r = self.put_file(&path, &mut self.lease());
        let _ = fs::remove_dir_all(dir);
        r
    }

    /// The manifest stored under `key`, if it exists and all its blobs are
    /// present. Its blobs are added to `lease` (before they are checked, so a
    /// concurrent `gc` cannot remove them after the check).
    pub fn lookup(
        &self,
        key: &StageKey,
        lease: &mut Lease,
    ) -> Result<Option<Manifest>, CacheError> {
        let Some(raw) = self.entries.get(key.as_bytes())? else {
            return Ok(None);
        };
        let manifest: Manifest = serde_json::from_slice(&raw).map_err(|e| CacheError::Corrupt {
            key: key.to_string(),
            reason: e.to_string(),
        })?;
        for b in manifest.outputs.values() {
            lease.hold(b.digest);
        }
        if manifest
            .outputs
            .values()
            .any(|b| !self.blob_path(&b.digest).is_file())
        {
            // Someone deleted blobs by hand: treat as a miss and forget the entry.
            self.entries.remove(key.as_bytes())?;
            return Ok(None);
        }
        self.last_used
            .insert(key.as_bytes(), &now_unix().to_be_bytes())?;
        Ok(Some(manifest))
    }

    /// Record a finished run. Every blob in `manifest` must already be stored.
    pub fn record(&self, key: &StageKey, manifest: &Manifest) -> Result<(), CacheError> {
        for b in manifest.outputs.values() {
            if !self.blob_path(&b.digest).is_file() {
                return Err(CacheError::Corrupt {
                    key: key.to_string(),
                    reason: format!("blob {} was not stored first", b.digest),
                });
            }
        }
        let raw = serde_json::to_vec(manifest).map_err(|e| CacheError::Corrupt {
            key: key.to_string(),
            reason: e.to_string(),
        })?;
        self.entries.insert(key.as_bytes(), raw)?;
        self.last_used
            .insert(key.as_bytes(), &now_unix().to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Record that `path` (just written by us) holds `digest`, so it is not re-hashed later.
    pub fn remember_file(&self, path: &Path, digest: Digest) -> Result<(), CacheError> {
        self.remember_hashed(path, digest, now_ns())
    }

    /// Record that `path` held `digest` when it was read at `hashed_ns`.
    fn remember_hashed(
        &self,
        path: &Path,
        digest: Digest,
        hashed_ns: i128,
    ) -> Result<(), CacheError> {
        let canonical =
            fs::canonicalize(path).map_err(io_err(format!("reading {}", path.display())))?;
        let meta =
            fs::metadata(&canonical).map_err(io_err(format!("reading {}", path.display())))?;
        let (size, mtime_ns, inode) = file_identity(&meta);
        let memo = FileMemo {
            size,
            mtime_ns,
            inode,
            digest,
            hashed_ns,
        };
        if let Ok(raw) = serde_json::to_vec(&memo) {
            self.files
                .insert(canonical.to_string_lossy().as_bytes(), raw)?;
        }
        Ok(())
    }

    /// Whether content `digest` already passed the input check named `check`.
    pub fn input_checked(&self, digest: &Digest, check: &str) -> Result<bool, CacheError> {
        Ok(self.checked.contains_key(check_key(digest, check))?)
    }

    /// Remember that content `digest` passed the input check named `check`.
    pub fn remember_input_check(&self, digest: &Digest, check: &str) -> Result<(), CacheError> {
        self.checked.insert(check_key(digest, check), &[])?;
        Ok(())
    }

    /// Digest of a user's file, re-hashed when its size, mtime or inode
    /// changed, or when it was modified too close to its last hashing to tell
    /// (see [`RACY_NS`]).
    pub fn file_digest(&self, path: &Path) -> Result<Digest, CacheError> {
        let canonical =
            fs::canonicalize(path).map_err(io_err(format!("reading {}", path.display())))?;
        let meta =
            fs::metadata(&canonical).map_err(io_err(format!("reading {}", path.display())))?;
        let (size, mtime_ns, inode) = file_identity(&meta);
        let memo_key = canonical.to_string_lossy().into_owned();
        if let Some(raw) = self.files.get(memo_key.as_bytes())? {
            if let Ok(m) = serde_json::from_slice::<FileMemo>(&raw) {
                if m.matches(size, mtime_ns, inode) {
                    return Ok(m.digest);
                }
            }
        }
        let hashed_ns = now_ns();
        let (digest, _) = hash_file(&canonical)?;
        self.remember_hashed(&canonical, digest, hashed_ns)?;
        Ok(digest)
    }

    fn manifests(&self) -> impl Iterator<Item = (sled::IVec, Option<Manifest>)> + '_ {
        self.entries
            .iter()
            .flatten()
            .map(|(k, v)| (k, serde_json::from_slice::<Manifest>(&v).ok()))
    }

    fn stored_blobs(&self) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        let Ok(shards) = fs::read_dir(self.root.join("blobs")) else {
            return out;
        };
        for shard in shards.flatten() {
            if let Ok(files) = fs::read_dir(shard.path()) {
                for f in files.flatten() {
                    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                    out.push((f.path(), size));
                }
            }
        }
        out
    }

    fn referenced(&self) -> HashSet<PathBuf> {
        self.manifests()
            .filter_map(|(_, m)| m)
            .flat_map(|m| m.outputs.into_values())
            .map(|b| self.blob_path(&b.digest))
            .collect()
    }

    pub fn stats(&self) -> Stats {
        let referenced = self.referenced();
        let blobs = self.stored_blobs();
        Stats {
            entries: self.entries.len(),
            blobs: blobs.len(),
            blob_bytes: blobs.iter().map(|(_, s)| s).sum(),
            unreferenced_blobs: blobs
                .iter()
                .filter(|(p, _)| !referenced.contains(p))
                .count(),
            memoised_files: self.files.len(),
        }
    }

    /// Drop entries unused for longer than `max_age_s`, then least recently used
    /// entries until the referenced blobs fit in `max_bytes`, then every blob no
    /// entry references.
    pub fn gc(
        &self,
        max_age_s: Option<u64>,
        max_bytes: Option<u64>,
    ) -> Result<GcReport, CacheError> {
        let mut report = GcReport::default();
        let now = now_unix();
        let mut live: Vec<(sled::IVec, u64, u64)> = Vec::new(); // key, last used, bytes
        for (key, manifest) in self.manifests() {
            let used = self
                .last_used
                .get(&key)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            let expired = max_age_s.is_some_and(|age| now.saturating_sub(used) > age);
            match manifest {
                Some(m) if !expired => {
                    live.push((key, used, m.outputs.values().map(|b| b.size).sum()));
                }
                _ => {
                    self.entries.remove(&key)?;
                    self.last_used.remove(&key)?;
                    report.entries_removed += 1;
                }
            }
        }
        if let Some(budget) = max_bytes {
            live.sort_by_key(|(_, used, _)| *used);
            let mut total: u64 = live.iter().map(|(_, _, b)| b).sum();
            for (key, _, bytes) in &live {
                if total <= budget {
                    break;
                }
                self.entries.remove(key)?;
                self.last_used.remove(key)?;
                report.entries_removed += 1;
                total = total.saturating_sub(*bytes);
            }
        }
        self.db.flush()?;
        let referenced = self.referenced();
        for (path, size) in self.stored_blobs() {
            if referenced.contains(&path) {
                continue;
            }
            let Some(digest) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(Digest::from_hex)
            else {
                continue; // not a blob (a stray file): not ours to delete
            };
            // Checked and deleted under the lease table's lock: a run cannot
            // take the blob between the two.
            let leases = self.leases.lock();
            if !leases.contains_key(&digest) && fs::remove_file(&path).is_ok() {
                report.blobs_removed += 1;
                report.bytes_freed += size;
            }
        }
        Ok(report)
    }

    /// Re-hash every referenced blob; drop entries whose blobs are missing or altered.
    pub fn verify(&self) -> Result<VerifyReport, CacheError> {
        let mut report = VerifyReport::default();
        let mut good: HashSet<Digest> = HashSet::new();
        for (key, manifest) in self.manifests() {
            report.entries_checked += 1;
            let ok = match manifest {
                None => false,
                Some(m) => m.outputs.values().all(|b| {
                    if good.contains(&b.digest) {
                        return true;
                    }
                    report.blobs_checked += 1;
                    let path = self.blob_path(&b.digest);
                    let intact = hash_file(&path)
                        .map(|(d, _)| d == b.digest)
                        .unwrap_or(false);
                    if intact {
                        good.insert(b.digest);
                    } else {
                        // Gone or altered: remove it so the next run writes it afresh
                        // (unless a running stage holds it: that run finishes with
                        // it). Checked and deleted under the lease table's lock.
                        let leases = self.leases.lock();
                        if !leases.contains_key(&b.digest) {
                            let _ = fs::remove_file(&path);
                        }
                    }
                    intact
                }),
            };
            if !ok {
                self.entries.remove(&key)?;
                self.last_used.remove(&key)?;
                report.broken_entries.push(hex_of(&key));
            }
        }
        self.db.flush()?;
        Ok(report)
    }
}

fn check_key(digest: &Digest, check: &str) -> Vec<u8> {
    let mut k = digest.0.to_vec();
    k.extend_from_slice(check.as_bytes());
    k
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(unix)]
fn file_identity(meta: &fs::Metadata) -> (u64, i128, u64) {
    use std::os::unix::fs::MetadataExt;
    let mtime_ns = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
    (
        meta.len(),
        mtime_ns,
        meta.ino() ^ meta.dev().rotate_left(32),
    )
}

#[cfg(not(unix))]
fn file_identity(meta: &fs::Metadata) -> (u64, i128, u64) {
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    (meta.len(), mtime_ns, 0)
}

/// blake3 of a file's bytes, streamed.
pub fn hash_file(path: &Path) -> Result<(Digest, u64), CacheError> {
    let mut f = fs::File::open(path).map_err(io_err(format!("reading {}", path.display())))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(io_err(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((Digest(*hasher.finalize().as_bytes()), size))
}

#[cfg(test)]
mod tests;
