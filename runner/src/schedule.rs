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
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{JoinError, JoinSet};
use vantage_cache::{BlobRef, Lease, RemoteLookup};
use vantage_core::{CancelToken, Resources};

/// Outputs of finished stages: stage -> output name -> blob.
pub(crate) type Finished = HashMap<String, BTreeMap<String, BlobRef>>;

/// A stage waiting for slots, holding the claim on its key.
struct Ready {
    job: Job,
    index: usize,
    needs: Resources,
    leader: Leader,
}

/// The slots being waited for, for the stage of that index. Kept across
/// turns of the loop so the stage keeps its place in the slots' queue.
type Acquiring = (usize, Pin<Box<dyn Future<Output = Grant> + Send>>);

enum Done {
    /// The stage ran here (or failed).
    Ran(Result<Ran, RunError>),
    /// The remote cache tier answered for this stage (on a local miss).
    Remote(Box<Job>, Result<(RemoteLookup, Lease), RunError>),
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
    acquiring: Option<Acquiring>,
    running: JoinSet<(usize, Done)>,
    finished: Finished,
    would_run: BTreeSet<String>,
    outcomes: Vec<StageOutcome>,
    lease: Lease,
    /// Stages already looked up in the remote tier (once per run).
    asked_remote: BTreeSet<usize>,
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
            acquiring: None,
            running: JoinSet::new(),
            finished: HashMap::new(),
            would_run: BTreeSet::new(),
            outcomes: Vec::new(),
            lease: engine.cache().lease(),
            asked_remote: BTreeSet::new(),
        }
    }

    pub(crate) fn into_parts(mut self) -> (Finished, Vec<StageOutcome>, Lease) {
        let lease = std::mem::replace(&mut self.lease, self.engine.cache().lease());
        (
            std::mem::take(&mut self.finished),
            std::mem::take(&mut self.outcomes),
            lease,
        )
    }

    /// Run every stage. On any error, what still runs is cancelled and
    /// waited for before returning: a failed run holds no slots.
    pub(crate) async fn run(&mut self) -> Result<(), RunError> {
        let result = self.drive().await;
        if result.is_err() {
            self.cancel.cancel();
            self.stop().await;
        }
        result
    }

    async fn drive(&mut self) -> Result<(), RunError> {
        loop {
            self.admit()?;
            if self.ready.is_empty() && self.running.is_empty() {
                break;
            }
            match self.next().await {
                Next::Cancelled => return Err(RunError::Cancelled),
                Next::Granted(grant) => self.launch(grant),
                Next::Joined(joined) => self.settle(joined)?,
            }
        }
        if self.cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        Ok(())
    }

    /// Wait for slots for the head of the ready queue, a finished task, or cancellation.
    async fn next(&mut self) -> Next {
        if self.acquiring.is_none() {
            if let Some(head) = self.ready.first() {
                let (slots, needs) = (self.engine.slots().clone(), head.needs);
                let wait = async move { slots.acquire(needs.cpu, needs.gpu).await };
                self.acquiring = Some((head.index, Box::pin(wait)));
            }
        }
        let Self {
            acquiring,
            running,
            cancel,
            ..
        } = self;
        tokio::select! {
            _ = cancelled(cancel) => Next::Cancelled,
            grant = async { acquiring.as_mut().map(|(_, f)| f.as_mut()).expect("guarded").await },
                if acquiring.is_some() => Next::Granted(grant),
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
            let found = self.engine.cache().lookup(&job.key, &mut self.lease)?;
            // An entry lacking one of the stage's outputs (damaged, or
            // written by hand) is a miss: the stage runs and replaces it.
            if let Some(m) = found.filter(|m| has_outputs(node, m)) {
                self.record(&node.name, StageStatus::Cached);
                self.finished.insert(node.name.clone(), m.outputs);
                return Ok(());
            }
            let remote = self.engine.cache().remote().is_some();
            if remote && !self.opts.dry_run && self.asked_remote.insert(index) {
                self.ask_remote(index, job);
                return Ok(());
            }
        }
        if self.opts.dry_run {
            self.would_run.insert(node.name.clone());
            self.record(&node.name, StageStatus::WouldRun);
            return Ok(());
        }
        self.enqueue(index, job);
        Ok(())
    }

    /// Look `job` up in the remote tier on a blocking thread; the answer
    /// comes back through `settle`.
    fn ask_remote(&mut self, index: usize, job: Job) {
        let cache = Arc::clone(self.engine.cache());
        self.running.spawn(async move {
            let key = job.key;
            let fetched = tokio::task::spawn_blocking(move || {
                let mut lease = cache.lease();
                let found = cache.fetch_remote(&key, &mut lease)?;
                Ok((found, lease))
            })
            .await
            .unwrap_or_else(|e| Err(RunError::Internal(format!("remote lookup panicked: {e}"))));
            (index, Done::Remote(Box::new(job), fetched))
        });
    }

    /// Queue a stage that must run for slots, or follow an identical run in flight.
    fn enqueue(&mut self, index: usize, job: Job) {
        let node = &self.pipeline.stages[index];
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
    }

    /// Start the stage the slots just granted were waited for.
    fn launch(&mut self, grant: Grant) {
        let Some((index, _)) = self.acquiring.take() else {
            return;
        };
        let Some(at) = self.ready.iter().position(|r| r.index == index) else {
            return;
        };
        let ready = self.ready.remove(at);
        let (cache, peers, events, cancel) = (
            Arc::clone(self.engine.cache()),
            self.engine.peers(),
            Arc::clone(self.events),
            self.cancel.clone(),
        );
        self.running.spawn(async move {
            let Ready {
                job, index, leader, ..
            } = ready;
            let ran = stage_run::run(job, leader, cache, peers, grant, events, cancel).await;
            (index, Done::Ran(ran))
        });
    }

    fn settle(&mut self, joined: Result<(usize, Done), JoinError>) -> Result<(), RunError> {
        let (index, done) =
            joined.map_err(|e| RunError::Internal(format!("a stage's task panicked: {e}")))?;
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
            // The caller stops the siblings; what already finished stays cached.
            Done::Ran(Err(e)) => return Err(e),
            Done::Remote(job, found) => self.settle_remote(index, *job, found),
        }
        Ok(())
    }

    /// A remote hit is a cached stage; anything else (a miss, a damaged
    /// entry, an unreachable bucket) runs the stage here.
    fn settle_remote(
        &mut self,
        index: usize,
        job: Job,
        found: Result<(RemoteLookup, Lease), RunError>,
    ) {
        let stage = self.pipeline.stages[index].name.clone();
        let note = |message: String| Event::Remote {
            stage: stage.clone(),
            message,
        };
        match found {
            Ok((RemoteLookup::Hit(m), lease)) if has_outputs(&self.pipeline.stages[index], &m) => {
                (self.events)(&note("fetched from the remote cache".into()));
                self.record(&stage, StageStatus::Cached);
                self.finished.insert(stage.clone(), m.outputs);
                self.lease.absorb(lease);
                return;
            }
            Ok((RemoteLookup::Hit(_), _)) => (self.events)(&note(
                "remote cache entry not used: it lacks an output".into(),
            )),
            Ok((RemoteLookup::Miss, _)) => {}
            Ok((RemoteLookup::Corrupt(why), _)) => {
                (self.events)(&note(format!("remote cache entry not used: {why}")))
            }
            Err(e) => (self.events)(&note(format!(
                "remote cache not reachable, running here: {e}"
            ))),
        }
        self.enqueue(index, job);
    }

    /// Drop what waits for slots and wait for what runs (it sees the cancel).
    async fn stop(&mut self) {
        self.acquiring = None;
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
        let key = stage_run::stage_key(
            node.stage.as_ref(),
            &node.params,
            &digests,
            &self.prepared.weights[&node.name],
        );
        Job {
            node: node.clone(),
            key,
            inputs: paths,
            digests,
        }
    }
}

impl Drop for Schedule<'_> {
    /// A run dropped mid-way (a server request that went away): its tasks are
    /// aborted, but stages on blocking threads must be told to stop.
    fn drop(&mut self) {
        if !self.running.is_empty() {
            self.cancel.cancel();
        }
    }
}

/// Whether `manifest` holds every output `node` declares.
fn has_outputs(node: &StageNode, manifest: &vantage_cache::Manifest) -> bool {
    node.ports
        .outputs
        .iter()
        .all(|p| manifest.outputs.contains_key(&p.name))
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
