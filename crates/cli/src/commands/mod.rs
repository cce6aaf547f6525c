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

/// The cache a command opens: the local directory and the shared tier under it.
pub struct CacheOpts {
    pub dir: PathBuf,
    /// `s3://BUCKET/PREFIX`.
    pub remote: Option<String>,
}

/// `$VANTAGE_HOME/cache`, or `~/.cache/vantage/cache`.
pub fn default_cache_dir() -> PathBuf {
    vantage_core::home_dir().join("cache")
}
