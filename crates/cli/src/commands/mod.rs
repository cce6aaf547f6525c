pub mod cache;
pub mod dag;
pub mod run;
pub mod stages;
pub mod sync;

use std::path::PathBuf;

/// `$VANTAGE_HOME/cache`, or `~/.cache/vantage/cache`.
pub fn default_cache_dir() -> PathBuf {
    let home = std::env::var_os("VANTAGE_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("vantage"))
        })
        .unwrap_or_else(|| PathBuf::from(".vantage"));
    home.join("cache")
}
