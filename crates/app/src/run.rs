//! Opening the engine, and one run: validate the request, execute, deliver.

use crate::Device;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use vantage_cache::{Cache, CacheError};
use vantage_core::CancelToken;
use vantage_runner::{
    deliver, Engine, EventSink, Pipeline, PipelineErrors, Registry, RunError, RunOptions,
    RunOutcome, Slots,
};
use vantage_weights::Store;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The pipeline file (or an override) is not valid.
    #[error(transparent)]
    Pipeline(#[from] PipelineErrors),
    /// The request does not fit the pipeline (an unknown output, an output onto an input, ...).
    #[error("{0}")]
    Request(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A bug in Vantage (a task that panicked).
    #[error("{0}")]
    Internal(String),
}

/// What one process's engine is made of.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub cache_dir: PathBuf,
    pub weights: Store,
    /// CPU slots; one per core when `None`.
    pub cpu_slots: Option<usize>,
    pub gpu_slots: usize,
    /// How long to wait for another process that holds the cache.
    pub lock_wait: Duration,
    /// Bytes of loaded models kept between runs, for Whisper and for RIFE
    /// each (least recently used are dropped past it).
    pub model_budget: u64,
    /// A shared cache tier under the local one: `s3://BUCKET/PREFIX`.
    pub cache_remote: Option<String>,
    /// Other replicas' queues that long renders hand segments to (needs `cache_remote`).
    pub peers: Vec<String>,
    /// The key sent to the peers.
    pub peer_key: Option<String>,
}

impl EngineConfig {
    /// The cache at `cache_dir`, the default weights store, one slot per core.
    pub fn new(cache_dir: PathBuf) -> Self {
        Self {
            cache_dir,
            weights: Store::open_default(),
            cpu_slots: None,
            gpu_slots: 1,
            lock_wait: Duration::from_secs(3600),
            model_budget: vantage_core::loaded::DEFAULT_BUDGET,
            cache_remote: None,
            peers: Vec::new(),
            peer_key: None,
        }
    }
}

/// Open the cache (waiting for another process that has it: `on_wait` is
/// called once if so) and build the engine every run of this process shares.
/// `registry` is usually [`crate::registry::registry`] over `cfg.weights`.
pub fn open_engine(
    cfg: &EngineConfig,
    registry: Registry,
    on_wait: &mut dyn FnMut(),
) -> Result<Engine, AppError> {
    // The remote is checked first: a wrong URL or key fails before the cache is locked.
    let remote = match &cfg.cache_remote {
        Some(url) => Some(
            vantage_s3::Bucket::from_url(url)
                .and_then(|b| b.check().map(|()| b))
                .map_err(|e| AppError::Request(format!("--cache-remote: {e}")))?,
        ),
        None => None,
    };
    if !cfg.peers.is_empty() && remote.is_none() {
        return Err(AppError::Request(
            "--peer needs --cache-remote: peers read the inputs and return the segments through the shared cache".into(),
        ));
    }
    let peers = cfg
        .peers
        .iter()
        .map(|url| {
            crate::peers::QueuePeer::new(url, cfg.peer_key.clone())
                .map(|p| Arc::new(p) as Arc<dyn vantage_runner::PeerLink>)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(AppError::Request)?;
    let mut cache = Cache::open_waiting(&cfg.cache_dir, cfg.lock_wait, on_wait)?;
    if let Some(bucket) = remote {
        cache = cache.with_remote(bucket);
    }
    vantage_transcribe::set_model_budget(cfg.model_budget);
    vantage_rife::set_model_budget(cfg.model_budget);
    let slots = Slots::new(cfg.cpu_slots.unwrap_or_else(Slots::cores), cfg.gpu_slots);
    Ok(Engine::new(registry, Arc::new(cache), slots).with_peers(peers))
}

/// Load each Whisper model in `whisper` and the RIFE weights on `device`
/// and run a tiny inference on each, so that a server's first request finds
/// them ready. Fails with what is missing.
pub fn warm_up(weights: &Store, whisper: &[&str], device: Device) -> Result<(), AppError> {
    let warm = |what: &str, result: Result<(), vantage_core::StageError>| {
        result.map_err(|e| AppError::Request(format!("warming up {what}: {e}")))
    };
    let transcribe = vantage_transcribe::Transcribe::new(weights.clone());
    for model in whisper {
        warm(model, transcribe.warm_up(model, device.name()))?;
    }
    let interpolate = vantage_interpolate::Interpolate::new(weights.clone());
    warm("rife", interpolate.warm_up("rife", device.name()))
}

/// One run: a validated pipeline, its input files, where its outputs go.
pub struct RunRequest {
    pub pipeline: Pipeline,
    pub inputs: BTreeMap<String, PathBuf>,
    /// Pipeline output name -> destination file.
    pub outputs: Vec<(String, PathBuf)>,
    pub opts: RunOptions,
}

/// Every requested output exists in the pipeline and none would overwrite an input.
pub fn validate_outputs(
    pipeline: &Pipeline,
    inputs: &BTreeMap<String, PathBuf>,
    outputs: &[(String, PathBuf)],
) -> Result<(), AppError> {
    for (name, path) in outputs {
        if !pipeline.outputs.iter().any(|(n, _)| n == name) {
            return Err(AppError::Request(format!(
                "-o {name}=...: the pipeline has no output '{name}' (outputs: {})",
                pipeline
                    .outputs
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if let Some(input) = inputs.values().find(|i| same_file(i, path)) {
            return Err(AppError::Request(format!(
                "output {} is also an input ({}); choose another output path",
                path.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

/// Validate, execute and deliver the outputs (unless a dry run).
pub async fn run(
    engine: &Engine,
    req: &RunRequest,
    events: EventSink,
    cancel: CancelToken,
) -> Result<RunOutcome, AppError> {
    validate_outputs(&req.pipeline, &req.inputs, &req.outputs)?;
    let outcome = engine
        .run(&req.pipeline, &req.inputs, &req.opts, events, cancel)
        .await?;
    if req.opts.dry_run {
        return Ok(outcome);
    }
    let deliveries: Vec<_> = req
        .outputs
        .iter()
        .map(|(name, dest)| (outcome.outputs[name].clone(), dest.clone()))
        .collect();
    let cache = Arc::clone(engine.cache());
    // Copying and fsyncing multi-GB files is blocking work.
    tokio::task::spawn_blocking(move || {
        deliveries
            .iter()
            .try_for_each(|(artifact, dest)| deliver(&cache, artifact, dest))
    })
    .await
    .map_err(|e| AppError::Internal(format!("delivering the outputs panicked: {e}")))??;
    Ok(outcome)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
