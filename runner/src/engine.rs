//! The engine: one per process, shared by every run in it.
//!
//! It owns what runs must share: the cache handle, the CPU/GPU slots and the
//! set of stage runs in flight. [`Engine::run`] executes one pipeline; call it
//! from as many tasks as there are requests.

use crate::events::{Event, EventSink};
use crate::inflight::InFlight;
use crate::peers::PeerLink;
use crate::pipeline::{Pipeline, Source};
use crate::registry::Registry;
use crate::schedule::Schedule;
use crate::slots::Slots;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use vantage_cache::{Cache, CacheError, Digest, Lease};
use vantage_core::{CancelToken, ErrorKind, StageError};

/// Which stages must run even when cached.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Force {
    #[default]
    None,
    All,
    Stages(BTreeSet<String>),
}

impl Force {
    pub(crate) fn applies(&self, stage: &str) -> bool {
        match self {
            Force::None => false,
            Force::All => true,
            Force::Stages(s) => s.contains(stage),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub force: Force,
    /// Only report which stages are cached and which would run.
    pub dry_run: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageStatus {
    Ran,
    Cached,
    WouldRun,
}

#[derive(Clone, Debug)]
pub struct StageOutcome {
    pub name: String,
    pub status: StageStatus,
    pub seconds: f64,
}

pub struct RunOutcome {
    /// Pipeline output name -> stored file and its digest (absent in a dry run).
    pub outputs: BTreeMap<String, (PathBuf, Digest)>,
    pub stages: Vec<StageOutcome>,
    pub seconds: f64,
    /// Keeps the outputs' blobs from `gc` until they are delivered.
    pub lease: Lease,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The user's inputs are missing, unreadable or of the wrong kind: nothing ran.
    #[error("{0}")]
    Inputs(String),
    /// Stages whose weights are not installed (or whose parameters cannot
    /// find them): nothing ran.
    #[error("{}", .0.iter().map(|(stage, e)| format!("stage '{stage}': {e}")).collect::<Vec<_>>().join("\n"))]
    Weights(Vec<(String, StageError)>),
    #[error("stage '{stage}' ({kind}) failed: {error}")]
    Stage {
        stage: String,
        kind: String,
        error: StageError,
    },
    #[error("cancelled; finished stages are cached and the next run resumes from them")]
    Cancelled,
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A bug in Vantage (a task that panicked).
    #[error("{0}")]
    Internal(String),
}

impl RunError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RunError::Inputs(_) => ErrorKind::InvalidInput,
            // Missing weights if any stage lacks them, else what the first says.
            RunError::Weights(list) => match list.iter().map(|(_, e)| e.kind()).collect::<Vec<_>>()
            {
                kinds if kinds.contains(&ErrorKind::MissingWeights) => ErrorKind::MissingWeights,
                kinds => kinds.first().copied().unwrap_or(ErrorKind::MissingWeights),
            },
            RunError::Stage { error, .. } => error.kind(),
            RunError::Cancelled => ErrorKind::Cancelled,
            RunError::Cache(_) | RunError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The stage errors behind this one, with their stage names.
    pub fn stage_errors(&self) -> Vec<(&str, &StageError)> {
        match self {
            RunError::Weights(list) => list.iter().map(|(s, e)| (s.as_str(), e)).collect(),
            RunError::Stage { stage, error, .. } => vec![(stage.as_str(), error)],
            _ => Vec::new(),
        }
    }
}

pub struct Engine {
    registry: Registry,
    cache: Arc<Cache>,
    slots: Slots,
    inflight: InFlight,
    peers: Arc<[Arc<dyn PeerLink>]>,
}

impl Engine {
    pub fn new(registry: Registry, cache: Arc<Cache>, slots: Slots) -> Self {
        Self {
            registry,
            cache,
            slots,
            inflight: InFlight::default(),
            peers: Arc::new([]),
        }
    }

    /// Replicas that stages made in pieces may hand pieces to (used when
    /// the cache has a remote tier, which carries the inputs and pieces).
    pub fn with_peers(mut self, peers: Vec<Arc<dyn PeerLink>>) -> Self {
        self.peers = peers.into();
        self
    }

    pub(crate) fn peers(&self) -> Arc<[Arc<dyn PeerLink>]> {
        Arc::clone(&self.peers)
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    pub fn slots(&self) -> &Slots {
        &self.slots
    }

    pub(crate) fn inflight(&self) -> &InFlight {
        &self.inflight
    }

    /// Run `pipeline` on `inputs` (pipeline input name -> file). A failing
    /// stage cancels `cancel` (its siblings stop; what finished stays cached),
    /// as does dropping the returned future before it completes.
    pub async fn run(
        &self,
        pipeline: &Pipeline,
        inputs: &BTreeMap<String, PathBuf>,
        opts: &RunOptions,
        events: EventSink,
        cancel: CancelToken,
    ) -> Result<RunOutcome, RunError> {
        let started = Instant::now();
        let prepared = {
            // Hashing and probing inputs is blocking file work.
            let (pipeline, registry, inputs, cache) = (
                pipeline.clone(),
                self.registry.clone(),
                inputs.clone(),
                Arc::clone(&self.cache),
            );
            tokio::task::spawn_blocking(move || {
                crate::prepare::prepare(&pipeline, &registry, &inputs, &cache)
            })
            .await
            .map_err(|e| RunError::Internal(format!("checking the inputs panicked: {e}")))??
        };
        let input_digests = prepared.inputs.clone();
        let mut schedule = Schedule::new(self, pipeline, inputs, prepared, opts, &events, &cancel);
        schedule.run().await?;
        let (finished, stages, lease) = schedule.into_parts();
        let mut outputs = BTreeMap::new();
        if !opts.dry_run {
            for (name, src) in &pipeline.outputs {
                let artifact = match src {
                    Source::Input(i) => (inputs[i].clone(), input_digests[i]),
                    Source::Stage { stage, output } => finished
                        .get(stage)
                        .and_then(|o| o.get(output))
                        .map(|b| (self.cache.blob_path(&b.digest), b.digest))
                        .ok_or_else(|| {
                            RunError::Inputs(format!("output '{name}' was not produced"))
                        })?,
                };
                outputs.insert(name.clone(), artifact);
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let count = |s: StageStatus| stages.iter().filter(|o| o.status == s).count();
        (events)(&Event::Finished {
            seconds,
            ran: count(StageStatus::Ran),
            cached: count(StageStatus::Cached),
        });
        Ok(RunOutcome {
            outputs,
            stages,
            seconds,
            lease,
        })
    }
}
