//! Copying a finished artifact to the user's path.

use std::path::{Path, PathBuf};
use vantage_cache::{Cache, CacheError, Digest};

/// Copy a finished artifact to a user's path atomically: a partial copy never
/// replaces an existing file, and two runs delivering to the same path at once
/// each write their own temporary file (the last rename wins, whole). A
/// destination that already holds these bytes is left alone (checked through
/// the cache's file memo: re-hashed once on the next run, as every file
/// written moments before its memo is, then trusted). Blocking: call it off
/// the async worker threads.
pub fn deliver(cache: &Cache, artifact: &(PathBuf, Digest), dest: &Path) -> Result<(), CacheError> {
    let (blob, digest) = artifact;
    if dest.is_file() && cache.file_digest(dest).ok() == Some(*digest) {
        return Ok(());
    }
    let io = |e: std::io::Error| CacheError::Io {
        context: format!("writing {}", dest.display()),
        source: e,
    };
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(
        ".{}.partial-{}",
        dest.file_name()
            .map_or("out".into(), |n| n.to_string_lossy()),
        cache.unique_suffix()
    ));
    let copy = || -> std::io::Result<()> {
        // A fresh file gets the user's umask (the blob itself is read-only).
        let mut out = std::fs::File::create(&tmp)?;
        std::io::copy(&mut std::fs::File::open(blob)?, &mut out)?;
        out.sync_all()?;
        std::fs::rename(&tmp, dest)
    };
    if let Err(e) = copy() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    cache.remember_file(dest, *digest)
}
