//! Before any stage runs: every declared input present, readable and of the
//! right kind, and every stage's weights installed.
//!
//! Hashing inputs and probing them is blocking file work: the engine runs it
//! off the async worker threads.

use crate::pipeline::Pipeline;
use crate::registry::Registry;
use crate::RunError;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use vantage_cache::{Cache, Digest};

/// Digests of the user's inputs (by input name) and of each stage's weights
/// (by stage name).
pub(crate) struct Prepared {
    pub inputs: HashMap<String, Digest>,
    pub weights: HashMap<String, Vec<String>>,
}

pub(crate) fn prepare(
    pipeline: &Pipeline,
    registry: &Registry,
    inputs: &BTreeMap<String, PathBuf>,
    cache: &Cache,
) -> Result<Prepared, RunError> {
    Ok(Prepared {
        inputs: check_inputs(pipeline, registry, inputs, cache)?,
        weights: weight_digests(pipeline)?,
    })
}

fn check_inputs(
    pipeline: &Pipeline,
    registry: &Registry,
    inputs: &BTreeMap<String, PathBuf>,
    cache: &Cache,
) -> Result<HashMap<String, Digest>, RunError> {
    let mut problems = Vec::new();
    for name in inputs.keys() {
        if !pipeline.inputs.iter().any(|i| &i.name == name) {
            problems.push(format!(
                "-i {name}=...: {} has no input '{name}' (inputs: {})",
                pipeline.path.display(),
                pipeline
                    .inputs
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let mut digests = HashMap::new();
    for decl in &pipeline.inputs {
        let Some(path) = inputs.get(&decl.name) else {
            problems.push(format!(
                "missing input '{}' ({}): pass -i {}=FILE",
                decl.name, decl.ty, decl.name
            ));
            continue;
        };
        if !path.is_file() {
            problems.push(format!(
                "input '{}': {}: no such file",
                decl.name,
                path.display()
            ));
            continue;
        }
        let digest = cache.file_digest(path)?;
        // Content that passed this check before need not be probed again.
        let check = decl.ty.name();
        if !cache.input_checked(&digest, check)? {
            if let Err(msg) = registry.check_input(decl.ty, path) {
                problems.push(format!("input '{}': {msg}", decl.name));
                continue;
            }
            cache.remember_input_check(&digest, check)?;
        }
        digests.insert(decl.name.clone(), digest);
    }
    if problems.is_empty() {
        Ok(digests)
    } else {
        Err(RunError::Inputs(problems.join("\n")))
    }
}

/// Any missing weights fail the run before anything starts.
fn weight_digests(pipeline: &Pipeline) -> Result<HashMap<String, Vec<String>>, RunError> {
    let mut digests = HashMap::new();
    let mut problems = Vec::new();
    for node in &pipeline.stages {
        match node.stage.weight_digests(&node.params) {
            Ok(d) => {
                digests.insert(node.name.clone(), d);
            }
            Err(e) => problems.push((node.name.clone(), e)),
        }
    }
    if problems.is_empty() {
        Ok(digests)
    } else {
        Err(RunError::Weights(problems))
    }
}
