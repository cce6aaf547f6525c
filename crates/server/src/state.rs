//! What every request shares: the engine (one cache, one model set, the
//! process-wide CPU/GPU slots), the fetcher, the data folder, the queue.

use crate::error::ApiError;
use crate::fetch::Fetcher;
use crate::model::{FieldError, PipelineInput};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use vantage_app::{pipelines, Engine, Override, Pipeline};

/// The layout of `--data DIR`.
#[derive(Clone, Debug)]
pub struct Data(pub PathBuf);

impl Data {
    pub fn cache(&self) -> PathBuf {
        self.0.join("cache")
    }
    pub fn weights(&self) -> PathBuf {
        self.0.join("weights")
    }
    /// Queued and finished requests (status, logs, result).
    pub fn queue(&self) -> PathBuf {
        self.0.join("queue")
    }
    /// Produced files, served at `/files/...`.
    pub fn files(&self) -> PathBuf {
        self.0.join("files")
    }
    /// Downloaded inputs, removed when their job ends.
    pub fn work(&self) -> PathBuf {
        self.0.join("work")
    }
}

pub struct Ctx {
    pub engine: Engine,
    pub fetcher: Fetcher,
    pub data: Data,
    /// Concurrent pipelines, direct and queued together.
    pub running: std::sync::Arc<tokio::sync::Semaphore>,
    pub max_running: usize,
    /// Where the built-in syncs run Whisper and RIFE.
    pub device: vantage_app::Device,
    /// Overrides `scheme://host` in produced URLs (behind a gateway).
    pub public_url: Option<String>,
    /// Pipelines `/pipelines/{name}` may run: name -> file or built-in name.
    pub pipelines: BTreeMap<String, String>,
    /// The listeners' bound addresses and scheme (known once they are bound).
    pub listeners: Mutex<Vec<std::net::SocketAddr>>,
    pub scheme: &'static str,
    /// Jobs executing now (direct, queued and streamed).
    pub active: std::sync::atomic::AtomicUsize,
    /// Direct requests in flight by `x-fal-request-id`, for `{path}/cancel`.
    pub direct: Mutex<HashMap<String, crate::job::Cancel>>,
    pub outputs: crate::outputs::OutputStore,
}

/// Counts a job in [`Ctx::active`] while it lives.
pub struct Active<'a>(&'a Ctx);

impl<'a> Active<'a> {
    pub fn new(ctx: &'a Ctx) -> Self {
        ctx.active.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Active(ctx)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0
            .active
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Ctx {
    /// The bases whose `/files/...` URLs are this server's own files: the
    /// address the request came to, the public URL, and every listener (by
    /// its bound address, and by the request's host name with its port: an
    /// upload made on the direct listener may be submitted to the queue).
    pub fn own_bases(&self, base: &str) -> Vec<String> {
        let mut own = vec![base.to_string()];
        own.extend(self.public_url.clone());
        let host = base.split("://").nth(1).unwrap_or("");
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        };
        for addr in crate::queue::lock(&self.listeners).iter() {
            own.push(format!("{}://{addr}", self.scheme));
            own.push(format!("{}://{name}:{}", self.scheme, addr.port()));
        }
        own
    }

    /// `/pipelines/{name}` with `input`'s parameters, or why not.
    pub fn load_pipeline(&self, name: &str, input: &PipelineInput) -> Result<Pipeline, ApiError> {
        let spec = self.pipelines.get(name).ok_or_else(|| {
            ApiError::new(
                404,
                "not_found",
                format!(
                    "no pipeline '{name}' on this server (allowed: {})",
                    self.pipelines
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        let mut overrides = Vec::new();
        let mut errors = Vec::new();
        for (key, value) in &input.params {
            match key.split_once('.') {
                // Weights are named, never given as paths, over HTTP.
                Some((_, "model" | "weights")) if !value.as_str().is_some_and(crate::validate::model_name) => {
                    errors.push(FieldError::new(
                        vec![json!("body"), json!("params"), json!(key)],
                        format!("{value} is not the name of installed weights (paths are not accepted over HTTP)"),
                        "value_error",
                    ))
                }
                Some((stage, param)) if !stage.is_empty() && !param.is_empty() => {
                    overrides.push(Override::new(stage, param, value.clone()))
                }
                _ => errors.push(FieldError::new(
                    vec![json!("body"), json!("params"), json!(key)],
                    format!("'{key}' is not STAGE.PARAM"),
                    "value_error",
                )),
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        pipelines::load(spec, self.engine.registry(), &overrides).map_err(|e| {
            ApiError::validation(vec![FieldError::new(
                vec![json!("body"), json!("params")],
                e.to_string(),
                "value_error",
            )])
        })
    }

    /// What is wrong with `input` for the pipeline `name` (inputs and
    /// outputs it does not declare, URLs it may not fetch).
    pub fn pipeline_errors(
        &self,
        name: &str,
        input: &PipelineInput,
        own: &[String],
    ) -> Result<Vec<FieldError>, ApiError> {
        let pipeline = self.load_pipeline(name, input)?;
        let mut errors = Vec::new();
        let loc = |a: &str, b: &str| vec![json!("body"), json!(a), json!(b)];
        for declared in &pipeline.inputs {
            if !input.inputs.contains_key(&declared.name) {
                errors.push(FieldError::new(
                    loc("inputs", &declared.name),
                    format!(
                        "the pipeline needs the input '{}' ({})",
                        declared.name, declared.help
                    ),
                    "missing",
                ));
            }
        }
        for (given, url) in &input.inputs {
            if !pipeline.inputs.iter().any(|i| &i.name == given) {
                let names: Vec<&str> = pipeline.inputs.iter().map(|i| i.name.as_str()).collect();
                errors.push(FieldError::new(
                    loc("inputs", given),
                    format!(
                        "the pipeline has no input '{given}' (inputs: {})",
                        names.join(", ")
                    ),
                    "extra_forbidden",
                ));
            } else if let Err((msg, kind)) = self.fetcher.policy().check_input(url, own) {
                errors.push(FieldError::new(loc("inputs", given), msg, kind));
            }
        }
        for wanted in input.outputs.iter().flatten() {
            if !pipeline.outputs.iter().any(|(n, _)| n == wanted) {
                let names: Vec<&str> = pipeline.outputs.iter().map(|(n, _)| n.as_str()).collect();
                errors.push(FieldError::new(
                    vec![json!("body"), json!("outputs")],
                    format!(
                        "the pipeline has no output '{wanted}' (outputs: {})",
                        names.join(", ")
                    ),
                    "value_error",
                ));
            }
        }
        Ok(errors)
    }
}
