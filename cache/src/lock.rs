//! The cache's process lock: one process at a time owns a cache directory.
//!
//! sled takes its own lock but reports a held lock as a generic I/O error, so
//! we hold a lock file of our own and learn "held by another process" from the
//! error's kind. A second process can wait for the first to finish instead of
//! failing.

use crate::{io_err, CacheError};
use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

/// How often a waiting process tries the lock again.
const RETRY: Duration = Duration::from_millis(100);

/// Take the lock on `root` (created if needed), waiting up to `wait` for
/// another process to release it. `on_wait` is called once, when waiting starts.
pub(crate) fn acquire(
    root: &Path,
    wait: Duration,
    on_wait: &mut dyn FnMut(),
) -> Result<File, CacheError> {
    let path = root.join("lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(format!("opening {}", path.display())))?;
    let start = Instant::now();
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if start.elapsed() < wait => {
                if !told {
                    on_wait();
                    told = true;
                }
                std::thread::sleep(RETRY);
            }
            Err(TryLockError::WouldBlock) => {
                return Err(CacheError::Locked {
                    root: root.to_path_buf(),
                    waited: start.elapsed(),
                })
            }
            Err(TryLockError::Error(e)) => {
                return Err(io_err(format!("locking {}", path.display()))(e))
            }
        }
    }
}
