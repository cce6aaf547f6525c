//! Finding pipelines: a path, or the name of a built-in pipeline.

use crate::AppError;
use std::path::{Path, PathBuf};
use vantage_runner::{Override, Pipeline, Registry};

/// Pipelines shipped inside the binary, so `vantage sync` works from any directory.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("sync", include_str!("../../../pipelines/sync.yaml")),
    ("sync-vfr", include_str!("../../../pipelines/sync-vfr.yaml")),
    (
        "diagnostic",
        include_str!("../../../pipelines/diagnostic.yaml"),
    ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use vantage_weights::Store;

    #[test]
    fn the_diagnostic_pipeline_is_the_sync_pipeline_plus_the_diagnostic() {
        // Same stages, inputs and parameters: a diagnostic after a sync reuses
        // every cached stage and renders only the diagnostic.
        let dir = tempfile::tempdir().unwrap();
        let registry = crate::registry::registry(&Store::open(dir.path()));
        let sync = built_in("sync", &registry, &[]).unwrap();
        let diagnostic = built_in("diagnostic", &registry, &[]).unwrap();
        for stage in &sync.stages {
            let twin = diagnostic.stage(&stage.name).unwrap();
            assert_eq!(
                (twin.kind(), &twin.params, &twin.inputs),
                (stage.kind(), &stage.params, &stage.inputs),
                "{}",
                stage.name
            );
        }
        let extra: Vec<&str> = diagnostic
            .stages
            .iter()
            .filter(|s| sync.stage(&s.name).is_none())
            .map(|s| s.kind())
            .collect();
        assert_eq!(extra, ["render-diagnostic"]);
        for (name, source) in &sync.outputs {
            assert!(
                diagnostic.outputs.contains(&(name.clone(), source.clone())),
                "{name}"
            );
        }
    }
}
