//! `vantage cache stats|gc|verify`.

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::Path;
use std::process::ExitCode;
use vantage_cache::Cache;

/// A budget past any disk (1 EiB): larger is a typo, not a wish.
const MAX_SIZE_MB: u64 = 1 << 40;

/// A number of days: not negative (which would evict everything), finite.
fn days(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(d) if d.is_finite() && d >= 0.0 => Ok(d),
        Ok(_) => Err("a number of days, 0 or more (0 drops every entry not in use)".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Subcommand)]
pub enum CacheAction {
    /// Entries, blobs and bytes in the cache
    Stats,
    /// Remove unreferenced blobs, and entries over an age or size budget
    Gc {
        /// Drop entries unused for this many days
        #[arg(long, value_parser = days, allow_negative_numbers = true)]
        max_age_days: Option<f64>,
        /// Then drop least recently used entries until blobs fit in this many MiB
        #[arg(long, value_parser = clap::value_parser!(u64).range(0..=MAX_SIZE_MB))]
        max_size_mb: Option<u64>,
    },
    /// Re-hash every stored artifact; drop entries whose files are missing or altered
    Verify,
}

pub fn cache(action: CacheAction, dir: &Path) -> Result<ExitCode> {
    let cache =
        Cache::open(dir).with_context(|| format!("opening the cache at {}", dir.display()))?;
    match action {
        CacheAction::Stats => {
            let s = cache.stats();
            println!("cache:              {}", dir.display());
            println!("entries:            {}", s.entries);
            println!(
                "blobs:              {} ({:.1} MiB)",
                s.blobs,
                s.blob_bytes as f64 / 1048576.0
            );
            println!("unreferenced blobs: {}", s.unreferenced_blobs);
            println!("remembered inputs:  {}", s.memoised_files);
        }
        CacheAction::Gc {
            max_age_days,
            max_size_mb,
        } => {
            let r = cache.gc(
                max_age_days.map(|d| (d * 86400.0) as u64),
                max_size_mb.map(|m| m * 1048576),
            )?;
            println!(
                "removed {} entries and {} blobs, freed {:.1} MiB",
                r.entries_removed,
                r.blobs_removed,
                r.bytes_freed as f64 / 1048576.0
            );
        }
        CacheAction::Verify => {
            let r = cache.verify()?;
            println!(
                "checked {} entries ({} blobs)",
                r.entries_checked, r.blobs_checked
            );
            if r.broken_entries.is_empty() {
                println!("all intact");
            } else {
                println!(
                    "removed {} broken entries (they will be recomputed):",
                    r.broken_entries.len()
                );
                for k in &r.broken_entries {
                    println!("  {k}");
                }
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
