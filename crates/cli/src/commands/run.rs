//! `vantage run`, and the execution `vantage sync` shares with it.

use crate::failure::{self, Command};
use crate::progress;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;
use vantage_app::{pipelines, AppError, EngineConfig, Override, Pipeline, RunOptions, RunRequest};
use vantage_core::CancelToken;
use vantage_runner::Force;
use vantage_runner::RunOutcome;

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
    /// Override a parameter: STAGE.PARAM=VALUE (VALUE is read as YAML: 3, true, "text")
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
    /// Seconds to wait for another vantage process using the same cache
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub lock_wait: u64,
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
        Ok(if self.force.iter().any(|f| f == "*") {
            Force::All
        } else if self.force.is_empty() {
            Force::None
        } else {
            Force::Stages(self.force.iter().cloned().collect::<BTreeSet<_>>())
        })
    }

    pub fn engine_config(&self, cache: &super::CacheOpts) -> EngineConfig {
        EngineConfig {
            cpu_slots: self.jobs,
            lock_wait: std::time::Duration::from_secs(self.lock_wait),
            cache_remote: cache.remote.clone(),
            ..EngineConfig::new(cache.dir.clone())
        }
    }
}

pub fn run(args: RunArgs, cache: &super::CacheOpts) -> Result<ExitCode> {
    let cfg = args.common.engine_config(cache);
    let registry = vantage_app::registry::registry(&cfg.weights);
    let pipeline = match pipelines::load(&args.pipeline, &registry, &args.common.overrides()?) {
        Ok(p) => p,
        Err(e) => return Ok(failure::report(&e, Command::Run)),
    };
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
    let request = RunRequest {
        pipeline,
        inputs,
        outputs,
        opts: RunOptions::default(),
    };
    execute(&cfg, registry, request, &args.common, Command::Run, &|_| {
        Ok(())
    })
}

/// Run a validated pipeline, copy the requested outputs into place, then run
/// `after` on the outcome (not in a dry run; `request.opts` come from the
/// flags in `common`).
pub fn execute(
    cfg: &EngineConfig,
    registry: vantage_runner::Registry,
    mut request: RunRequest,
    common: &CommonArgs,
    command: Command,
    after: &dyn Fn(&RunOutcome) -> Result<(), AppError>,
) -> Result<ExitCode> {
    // Requests that cannot work fail before the cache is opened (or waited for).
    if let Err(e) =
        vantage_app::validate_outputs(&request.pipeline, &request.inputs, &request.outputs)
    {
        return Ok(failure::report(&e, command));
    }
    request.opts = RunOptions {
        force: common.force(&request.pipeline)?,
        dry_run: common.dry_run,
    };
    let engine = vantage_app::open_engine(cfg, registry, &mut || {
        eprintln!(
            "waiting for the cache at {}: another vantage process is using it (for up to {} s; --lock-wait)",
            cfg.cache_dir.display(),
            cfg.lock_wait.as_secs()
        )
    });
    let engine = match engine {
        Ok(e) => e,
        Err(e) => return Ok(failure::report(&e, command)),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let cancel = CancelToken::default();
    let _ctrl_c = runtime.spawn(interrupt_on_ctrl_c(cancel.clone()));
    let result = runtime.block_on(vantage_app::run(
        &engine,
        &request,
        progress::sink(common.json),
        cancel.clone(),
    ));
    // The outputs are delivered (or the run failed): from here on a Ctrl-C
    // exits at once.
    cancel.cancel();
    match result {
        Ok(_) if common.dry_run => Ok(ExitCode::SUCCESS),
        Ok(outcome) => {
            for (name, dest) in &request.outputs {
                if common.json {
                    let event = serde_json::json!({"event": "output", "name": name, "path": dest});
                    println!("{event}");
                } else {
                    eprintln!("wrote {name}: {}", dest.display());
                }
            }
            Ok(after(&outcome)
                .map_or_else(|e| failure::report(&e, command), |()| ExitCode::SUCCESS))
        }
        Err(e) => Ok(failure::report(&e, command)),
    }
}

/// The first Ctrl-C cancels the stages (finished ones stay cached); a second
/// one, or one after the stages are done, exits at once.
async fn interrupt_on_ctrl_c(cancel: CancelToken) {
    while tokio::signal::ctrl_c().await.is_ok() {
        if cancel.is_cancelled() {
            eprintln!("interrupted");
            vantage_core::process::kill_children();
            std::process::exit(130);
        }
        eprintln!("stopping: cancelling running stages (finished ones stay cached)");
        cancel.cancel();
    }
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
