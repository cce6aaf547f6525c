//! Finding pipeline files: a path, or the name of a built-in pipeline.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use vantage_runner::{Override, Pipeline, Registry};

/// Pipelines shipped inside the binary, so `vantage sync` works from any directory.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("sync", include_str!("../../../pipelines/sync.yaml")),
    ("sync-vfr", include_str!("../../../pipelines/sync-vfr.yaml")),
];

/// Load `spec`: an existing file, or a built-in pipeline's name.
pub fn load(spec: &str, registry: &Registry, overrides: &[Override]) -> Result<Pipeline> {
    let path = Path::new(spec);
    if path.is_file() {
        return Pipeline::load(path, registry, overrides).map_err(anyhow::Error::new);
    }
    let name = spec.trim_end_matches(".yaml");
    if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name) {
        let shown = PathBuf::from(format!("pipelines/{name}.yaml (built in)"));
        return Pipeline::parse(text, &shown, registry, overrides).map_err(anyhow::Error::new);
    }
    if spec.ends_with(".yaml") || spec.ends_with(".yml") || spec.contains('/') {
        bail!("{spec}: no such pipeline file");
    }
    bail!(
        "'{spec}' is neither a pipeline file nor a built-in pipeline (built in: {})",
        BUILT_IN
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Parse `NAME=PATH` pairs.
pub fn named_paths(pairs: &[String], flag: &str) -> Result<Vec<(String, PathBuf)>> {
    pairs
        .iter()
        .map(|p| {
            let (name, path) = p
                .split_once('=')
                .with_context(|| format!("{flag} {p}: expected NAME=PATH"))?;
            Ok((name.trim().to_string(), PathBuf::from(path)))
        })
        .collect()
}
