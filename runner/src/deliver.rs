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
    let name = dest
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy());
    let prefix = format!(".{name}.partial-");
    sweep_partials(dir, &prefix);
    let tmp = dir.join(format!("{prefix}{}", cache.unique_suffix()));
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

/// Remove the temporary files of earlier deliveries to the same path whose
/// process is gone (killed mid-copy): `{prefix}{pid}-{n}`. A live process's
/// file is its copy in progress and stays.
fn sweep_partials(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !process_alive(pid)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` exists (on Linux; elsewhere assumed, so nothing
/// is removed).
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}
