//! `vantage run`.

use crate::pipelines::{self, named_paths};
use crate::progress;
use crate::registry::registry;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use vantage_cache::Cache;
use vantage_core::CancelToken;
use vantage_runner::{deliver, execute, Force, Override, Pipeline, Registry, RunError, RunOptions};

#[derive(Args)]
pub struct RunArgs {
    /// Pipeline file, or the name of a built-in pipeline (sync, sync-vfr)
    pub pipeline: String,
    /// Pipeline input: NAME=FILE
    #[arg(short = 'i', long = "input", value_name = "NAME=FILE")]
    pub inputs: Vec<String>,
    /// Where to write outputs: FILE for the first declared output, or NAME=FILE
    #[arg(short = 'o', long = "output", value_name = "[NAME=]FILE")]
    pub outputs: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags shared by `run` and `sync`.
#[derive(Args)]
pub struct CommonArgs {
    /// Override a parameter: STAGE.PARAM=VALUE
    #[arg(long = "set", value_name = "STAGE.PARAM=VALUE")]
    pub set: Vec<String>,
    /// Rerun every stage (or only the named one) even if cached
    #[arg(long, value_name = "STAGE", num_args = 0..=1, require_equals = true, default_missing_value = "*")]
    pub force: Vec<String>,
    /// Only show which stages are cached and which would run
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON event per line on stdout
    #[arg(long)]
    pub json: bool,
    /// CPU slots for concurrent stages [default: number of cores]
    #[arg(long)]
    pub jobs: Option<usize>,
}

impl CommonArgs {
    pub fn overrides(&self) -> Result<Vec<Override>> {
        self.set
            .iter()
            .map(|s| Override::parse(s).map_err(anyhow::Error::msg))
            .collect()
    }

    fn force(&self, pipeline: &Pipeline) -> Result<Force> {
        for name in self.force.iter().filter(|f| *f != "*") {
            if pipeline.stage(name).is_none() {
                bail!(
                    "--force={name}: there is no stage '{name}' (stages: {})",
                    pipeline
                        .stages
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        Ok(self.force_unchecked())
    }

    fn force_unchecked(&self) -> Force {
        if self.force.iter().any(|f| f == "*") {
            Force::All
        } else if self.force.is_empty() {
            Force::None
        } else {
            Force::Stages(self.force.iter().cloned().collect::<BTreeSet<_>>())
        }
    }
}

pub fn run(args: RunArgs, cache_dir: &Path) -> Result<ExitCode> {
    let reg = registry();
    let pipeline = pipelines::load(&args.pipeline, &reg, &args.common.overrides()?)?;
    let inputs: BTreeMap<String, PathBuf> = named_paths(&args.inputs, "-i")?.into_iter().collect();
    let mut outputs = Vec::new();
    for o in &args.outputs {
        match o.split_once('=') {
            Some((name, path)) => outputs.push((name.to_string(), PathBuf::from(path))),
            None => {
                let first = pipeline
                    .outputs
                    .first()
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default();
                outputs.push((first, PathBuf::from(o)));
            }
        }
    }
    execute_and_deliver(&reg, &pipeline, inputs, outputs, &args.common, cache_dir)
}

/// Run a validated pipeline and copy the requested outputs into place.
pub fn execute_and_deliver(
    reg: &Registry,
    pipeline: &Pipeline,
    inputs: BTreeMap<String, PathBuf>,
    outputs: Vec<(String, PathBuf)>,
    common: &CommonArgs,
    cache_dir: &Path,
) -> Result<ExitCode> {
    for (name, path) in &outputs {
        if !pipeline.outputs.iter().any(|(n, _)| n == name) {
            bail!(
                "-o {name}=...: the pipeline has no output '{name}' (outputs: {})",
                pipeline
                    .outputs
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        // Never let an output overwrite one of the inputs.
        for input in inputs.values() {
            if same_file(input, path) {
                bail!(
                    "output {} is also an input; choose another output path",
                    path.display()
                );
            }
        }
    }
    let cache = Arc::new(
        Cache::open(cache_dir)
            .with_context(|| format!("opening the cache at {}", cache_dir.display()))?,
    );
    let cancel = CancelToken::default();
    let opts = RunOptions {
        force: common.force(pipeline)?,
        dry_run: common.dry_run,
        cpu_slots: common.jobs.unwrap_or(RunOptions::default().cpu_slots),
        ..RunOptions::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    // The first Ctrl-C cancels the stages (finished ones stay cached); a second
    // one, or one after the stages are done, exits at once.
    let _ctrl_c = runtime.spawn({
        let cancel = cancel.clone();
        async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if cancel.is_cancelled() {
                    eprintln!("interrupted");
                    std::process::exit(130);
                }
                eprintln!("stopping: cancelling running stages (finished ones stay cached)");
                cancel.cancel();
            }
        }
    });
    let result = runtime.block_on(execute(
        pipeline,
        reg,
        &inputs,
        Arc::clone(&cache),
        &opts,
        progress::sink(common.json),
        cancel.clone(),
    ));
    // From here on a Ctrl-C exits immediately (a partial copy never replaces a file).
    cancel.cancel();
    let outcome = match result {
        Ok(o) => o,
        Err(RunError::Cancelled) => {
            eprintln!("cancelled; finished stages are cached and the next run resumes from them");
            return Ok(ExitCode::from(130));
        }
        Err(
            e @ (RunError::Inputs(_)
            | RunError::Stage {
                invalid_input: true,
                ..
            }),
        ) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    if common.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    for (name, dest) in &outputs {
        deliver(&cache, &outcome.outputs[name], dest)?;
        if common.json {
            println!(
                "{}",
                serde_json::json!({"event": "output", "name": name, "path": dest})
            );
        } else {
            eprintln!("wrote {name}: {}", dest.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
