pub mod cache;
pub mod dag;
pub mod interpolate;
pub mod run;
pub mod serve;
pub mod stages;
pub mod sync;
pub mod transcribe;
pub mod weights;

use std::path::PathBuf;

/// `$VANTAGE_HOME/cache`, or `~/.cache/vantage/cache`.
pub fn default_cache_dir() -> PathBuf {
    vantage_core::home_dir().join("cache")
}
