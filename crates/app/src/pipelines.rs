//! Finding pipelines: a path, or the name of a built-in pipeline.

use crate::AppError;
use std::path::{Path, PathBuf};
use vantage_runner::{Override, Pipeline, Registry};

/// Pipelines shipped inside the binary, so `vantage sync` works from any directory.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("sync", include_str!("../../../pipelines/sync.yaml")),
    ("sync-vfr", include_str!("../../../pipelines/sync-vfr.yaml")),
];

/// A built-in pipeline by name.
pub fn built_in(
    name: &str,
    registry: &Registry,
    overrides: &[Override],
) -> Result<Pipeline, AppError> {
    let (_, text) = BUILT_IN
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| AppError::Request(format!("no built-in pipeline '{name}'")))?;
    let shown = PathBuf::from(format!("pipelines/{name}.yaml (built in)"));
    Ok(Pipeline::parse(text, &shown, registry, overrides)?)
}

/// Load `spec`: an existing file, or a built-in pipeline's name.
pub fn load(spec: &str, registry: &Registry, overrides: &[Override]) -> Result<Pipeline, AppError> {
    let path = Path::new(spec);
    if path.is_file() {
        return Ok(Pipeline::load(path, registry, overrides)?);
    }
    let name = spec.trim_end_matches(".yaml");
    if BUILT_IN.iter().any(|(n, _)| *n == name) {
        return built_in(name, registry, overrides);
    }
    if spec.ends_with(".yaml") || spec.ends_with(".yml") || spec.contains('/') {
        return Err(AppError::Request(format!("{spec}: no such pipeline file")));
    }
    Err(AppError::Request(format!(
        "'{spec}' is neither a pipeline file nor a built-in pipeline (built in: {})",
        BUILT_IN
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    )))
}
