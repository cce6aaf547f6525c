//! The scheduler of one run: admit stages whose inputs are known (from the
//! cache if they can be), launch them lightest first as slots free up, and
//! collect what they produce.
//!
//! The loop waits for whichever comes first: a slot for the next ready
//! stage, a running stage finishing, or cancellation. Slots are the engine's,
//! shared with every other run in the process.

use crate::engine::{Engine, RunError, RunOptions, StageOutcome, StageStatus};
use crate::events::{Event, EventSink};
use crate::inflight::{Claim, Leader};
use crate::pipeline::{Pipeline, Source, StageNode};
use crate::prepare::Prepared;
use crate::slots::Grant;
use crate::stage_run::{self, Job, Ran};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{JoinError, JoinSet};
use vantage_cache::{BlobRef, Lease, StageKey};
use vantage_core::{CancelToken, Resources, StageError};

/// Outputs of finished stages: stage -> output name -> blob.
pub(crate) type Finished = HashMap<String, BTreeMap<String, BlobRef>>;

/// A stage waiting for slots, holding the claim on its key.
struct Ready {
    job: Job,
    index: usize,
    needs: Resources,
    leader: Leader,
}

enum Done {
    /// The stage ran here (or failed).
    Ran(Result<Ran, RunError>),
    /// An identical run elsewhere ended: look the key up again.
    LeaderGone,
}

enum Next {
    Cancelled,
    Granted(Grant),
    Joined(Result<(usize, Done), JoinError>),
}

pub(crate) struct Schedule<'a> {
    engine: &'a Engine,
    pipeline: &'a Pipeline,
    inputs: &'a BTreeMap<String, PathBuf>,
    prepared: Prepared,
    opts: &'a RunOptions,
    events: &'a EventSink,
    cancel: &'a CancelToken,
    /// Stages not admitted yet, by index in `pipeline.stages`.
    pending: BTreeSet<usize>,
    /// Admitted, not cached, waiting for slots: lightest first.
    ready: Vec<Ready>,
    running: JoinSet<(usize, Done)>,
    finished: Finished,
    would_run: BTreeSet<String>,
    outcomes: Vec<StageOutcome>,
    lease: Lease,
}

impl<'a> Schedule<'a> {
    pub(crate) fn new(
        engine: &'a Engine,
        pipeline: &'a Pipeline,
        inputs: &'a BTreeMap<String, PathBuf>,
        prepared: Prepared,
        opts: &'a RunOptions,
        events: &'a EventSink,
        cancel: &'a CancelToken,
    ) -> Self {
        Self {
            engine,
            pipeline,
            inputs,
            prepared,
            opts,
            events,
            cancel,
            pending: (0..pipeline.stages.len()).collect(),
            ready: Vec::new(),
            running: JoinSet::new(),
            finished: HashMap::new(),
            would_run: BTreeSet::new(),
            outcomes: Vec::new(),
            lease: engine.cache().lease(),
        }
    }

    pub(crate) fn into_parts(self) -> (Finished, Vec<StageOutcome>, Lease) {
        (self.finished, self.outcomes, self.lease)
    }

    pub(crate) async fn run(&mut self) -> Result<(), RunError> {
        loop {
            self.admit()?;
            if self.ready.is_empty() && self.running.is_empty() {
                break;
            }
            match self.next().await {
                Next::Cancelled => {
                    self.stop().await;
                    return Err(RunError::Cancelled);
                }
                Next::Granted(grant) => self.launch(grant),
                Next::Joined(joined) => self.settle(joined).await?,
            }
        }
        if self.cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        Ok(())
    }

    /// Wait for a slot for the head of the ready queue, a finished task, or cancellation.
    async fn next(&mut self) -> Next {
        let slots = self.engine.slots().clone();
        let head = self.ready.first().map(|r| r.needs);
        let running = &mut self.running;
        let cancel = self.cancel;
        tokio::select! {
            _ = cancelled(cancel) => Next::Cancelled,
            grant = async { slots.acquire(head.map_or(1, |n| n.cpu), head.is_some_and(|n| n.gpu)).await }, if head.is_some() => Next::Granted(grant),
            Some(joined) = running.join_next(), if !running.is_empty() => Next::Joined(joined),
        }
    }

    /// Settle every pending stage whose inputs are known: from the cache,
    /// as would-run in a dry run, or by queueing it for slots.
    fn admit(&mut self) -> Result<(), RunError> {
        let mut progressed = true;
        while progressed {
            progressed = false;
            for index in self.pending.clone() {
                let node = &self.pipeline.stages[index];
                let deps: Vec<&str> = dependencies(node).collect();
                if deps.iter().any(|d| self.would_run.contains(*d)) {
                    // Dry run: downstream of something that would run.
                    self.pending.remove(&index);
                    self.would_run.insert(node.name.clone());
                    self.record(&node.name, StageStatus::WouldRun);
                    progressed = true;
                } else if deps.iter().all(|d| self.finished.contains_key(*d)) {
                    self.pending.remove(&index);
                    self.admit_one(index)?;
                    progressed = true;
                }
            }
        }
        Ok(())
    }

    fn admit_one(&mut self, index: usize) -> Result<(), RunError> {
        let node = &self.pipeline.stages[index];
        let job = self.job(node);
        if !self.opts.force.applies(&node.name) {
            if let Some(m) = self.engine.cache().lookup(&job.key, &mut self.lease)? {
                self.record(&node.name, StageStatus::Cached);
                self.finished.insert(node.name.clone(), m.outputs);
                return Ok(());
            }
        }
        if self.opts.dry_run {
            self.would_run.insert(node.name.clone());
            self.record(&node.name, StageStatus::WouldRun);
            return Ok(());
        }
        (self.events)(&Event::Queued {
            stage: node.name.clone(),
            key: job.key.short(),
        });
        match self.engine.inflight().claim(job.key) {
            Claim::Lead(leader) => {
                let needs = node.stage.resources(&node.params);
                let needs = Resources {
                    cpu: self.engine.slots().clamp(needs.cpu),
                    ..needs
                };
                let at = self.ready.partition_point(|r| r.needs.cpu <= needs.cpu);
                let ready = Ready {
                    job,
                    index,
                    needs,
                    leader,
                };
                self.ready.insert(at, ready);
            }
            Claim::Follow(follower) => {
                let cancel = self.cancel.clone();
                self.running.spawn(async move {
                    tokio::select! {
                        _ = follower.wait() => {}
                        _ = cancelled(&cancel) => {}
                    }
                    (index, Done::LeaderGone)
                });
            }
        }
        Ok(())
    }

    /// Start the head of the ready queue with the slots just granted.
    fn launch(&mut self, grant: Grant) {
        let ready = self.ready.remove(0);
        let (cache, events, cancel) = (
            Arc::clone(self.engine.cache()),
            Arc::clone(self.events),
            self.cancel.clone(),
        );
        self.running.spawn(async move {
            let Ready {
                job, index, leader, ..
            } = ready;
            let ran = stage_run::run(job, cache, grant, events, cancel).await;
            // The manifest is recorded: followers now find it in the cache.
            drop(leader);
            (index, Done::Ran(ran))
        });
    }

    async fn settle(&mut self, joined: Result<(usize, Done), JoinError>) -> Result<(), RunError> {
        let (index, done) = joined.map_err(|e| RunError::Stage {
            stage: "?".into(),
            kind: "?".into(),
            error: StageError::internal(format!("stage task panicked: {e}")),
        })?;
        match done {
            Done::LeaderGone => {
                self.pending.insert(index);
            }
            Done::Ran(Ok(ran)) => {
                let name = self.pipeline.stages[index].name.clone();
                self.outcomes.push(StageOutcome {
                    name: name.clone(),
                    status: StageStatus::Ran,
                    seconds: ran.seconds,
                });
                self.finished.insert(name, ran.manifest.outputs);
                self.lease.absorb(ran.lease);
            }
            Done::Ran(Err(e)) => {
                // Stop the siblings; what already finished stays cached.
                self.cancel.cancel();
                self.stop().await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Drop what waits for slots and wait for what runs (it sees the cancel).
    async fn stop(&mut self) {
        self.ready.clear();
        while self.running.join_next().await.is_some() {}
    }

    /// Record a stage that will not run now (cached, or would run in a dry run).
    fn record(&mut self, stage: &str, status: StageStatus) {
        let stage = stage.to_string();
        (self.events)(&match status {
            StageStatus::Cached => Event::Cached {
                stage: stage.clone(),
            },
            _ => Event::WouldRun {
                stage: stage.clone(),
            },
        });
        self.outcomes.push(StageOutcome {
            name: stage,
            status,
            seconds: 0.0,
        });
    }

    /// The cache key of a stage whose inputs are all known, and its input files.
    fn job(&self, node: &StageNode) -> Job {
        let cache = self.engine.cache();
        let mut digests = BTreeMap::new();
        let mut paths = BTreeMap::new();
        for (port, src) in &node.inputs {
            let (digest, path) = match src {
                Source::Input(name) => (self.prepared.inputs[name], self.inputs[name].clone()),
                Source::Stage { stage, output } => {
                    let blob = &self.finished[stage][output];
                    (blob.digest, cache.blob_path(&blob.digest))
                }
            };
            digests.insert(port.clone(), digest);
            paths.insert(port.clone(), path);
        }
        let key = StageKey::new(
            node.kind(),
            node.stage.version(),
            &node.params,
            &digests,
            &self.prepared.weights[&node.name],
        );
        Job {
            node: node.clone(),
            key,
            inputs: paths,
        }
    }
}

fn dependencies(node: &StageNode) -> impl Iterator<Item = &str> {
    node.inputs.values().filter_map(|s| match s {
        Source::Stage { stage, .. } => Some(stage.as_str()),
        Source::Input(_) => None,
    })
}

/// Resolves once `cancel` is set (a flag, so polled).
async fn cancelled(cancel: &CancelToken) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
