//! Running a validated pipeline against the cache.

use crate::events::{Event, EventSink};
use crate::pipeline::{Pipeline, Source, StageNode};
use crate::registry::Registry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use vantage_cache::{BlobRef, Cache, CacheError, Digest, Manifest, StageKey};
use vantage_core::{CancelToken, StageContext, StageError};

/// Which stages must run even when cached.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Force {
    #[default]
    None,
    All,
    Stages(BTreeSet<String>),
}

impl Force {
    fn applies(&self, stage: &str) -> bool {
        match self {
            Force::None => false,
            Force::All => true,
            Force::Stages(s) => s.contains(stage),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub force: Force,
    pub dry_run: bool,
    pub cpu_slots: usize,
    pub gpu_slots: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            force: Force::None,
            dry_run: false,
            cpu_slots: std::thread::available_parallelism().map_or(2, |n| n.get()),
            gpu_slots: 1,
        }
    }
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

#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// Pipeline output name -> stored file and its digest (absent in a dry run).
    pub outputs: BTreeMap<String, (PathBuf, Digest)>,
    pub stages: Vec<StageOutcome>,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Inputs(String),
    #[error("stage '{stage}' ({kind}) failed: {message}")]
    Stage {
        stage: String,
        kind: String,
        message: String,
        /// True when the user's inputs are at fault (not a bug or a tool failure).
        invalid_input: bool,
    },
    #[error("cancelled; finished stages are cached and the next run resumes from them")]
    Cancelled,
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// A finished stage run: its manifest and how long it took.
type StageResult = Result<(Manifest, f64), RunError>;

/// Run `pipeline` on `inputs` (pipeline input name -> file).
pub async fn execute(
    pipeline: &Pipeline,
    registry: &Registry,
    inputs: &BTreeMap<String, PathBuf>,
    cache: Arc<Cache>,
    opts: &RunOptions,
    events: EventSink,
    cancel: CancelToken,
) -> Result<RunOutcome, RunError> {
    let started = Instant::now();
    let input_digests = check_inputs(pipeline, registry, inputs, &cache)?;
    let weights = weight_digests(pipeline)?;

    let cpu = Arc::new(Semaphore::new(opts.cpu_slots.max(1)));
    let gpu = Arc::new(Semaphore::new(opts.gpu_slots.max(1)));
    // Outputs of finished stages: stage -> output name -> blob.
    let mut finished: HashMap<String, BTreeMap<String, BlobRef>> = HashMap::new();
    let mut outcomes: Vec<StageOutcome> = Vec::new();
    let mut would_run: BTreeSet<String> = BTreeSet::new();
    let mut started_set: BTreeSet<String> = BTreeSet::new();
    // Inputs known, not cached, waiting for slots: (stage, key, input files, CPU slots).
    let mut ready: Vec<(&StageNode, StageKey, BTreeMap<String, PathBuf>, u32)> = Vec::new();
    let mut running: JoinSet<(String, StageResult)> = JoinSet::new();
    let total_cpu = opts.cpu_slots.max(1);

    loop {
        // Launch (or satisfy from cache) every stage whose inputs are all known.
        let mut progressed = true;
        while progressed {
            progressed = false;
            for node in &pipeline.stages {
                if started_set.contains(&node.name) {
                    continue;
                }
                let deps = node.inputs.values().filter_map(|s| match s {
                    Source::Stage { stage, .. } => Some(stage.as_str()),
                    Source::Input(_) => None,
                });
                let deps: Vec<&str> = deps.collect();
                if deps.iter().any(|d| would_run.contains(*d)) {
                    // Dry run: downstream of something that would run.
                    started_set.insert(node.name.clone());
                    would_run.insert(node.name.clone());
                    settle(&events, &mut outcomes, &node.name, StageStatus::WouldRun);
                    progressed = true;
                    continue;
                }
                if !deps.iter().all(|d| finished.contains_key(*d)) {
                    continue;
                }
                started_set.insert(node.name.clone());
                progressed = true;
                let (key, input_paths) = stage_key(
                    node,
                    &input_digests,
                    &weights[&node.name],
                    inputs,
                    &finished,
                    &cache,
                );
                if !opts.force.applies(&node.name) {
                    if let Some(m) = cache.lookup(&key)? {
                        settle(&events, &mut outcomes, &node.name, StageStatus::Cached);
                        finished.insert(node.name.clone(), m.outputs);
                        continue;
                    }
                }
                if opts.dry_run {
                    would_run.insert(node.name.clone());
                    settle(&events, &mut outcomes, &node.name, StageStatus::WouldRun);
                    continue;
                }
                (events)(&Event::Queued {
                    stage: node.name.clone(),
                    key: key.short(),
                });
                let slots = node.stage.resources(&node.params).cpu.clamp(1, total_cpu) as u32;
                ready.push((node, key, input_paths, slots));
            }
        }
        // Start what the slots allow, lightest first: a quick stage never waits
        // for a heavy one that became ready at the same moment.
        ready.sort_by_key(|r| r.3);
        let mut waiting = Vec::new();
        for (node, key, input_paths, slots) in ready.drain(..) {
            let Ok(cpu_permit) = Arc::clone(&cpu).try_acquire_many_owned(slots) else {
                waiting.push((node, key, input_paths, slots));
                continue;
            };
            let gpu_permit = if node.stage.resources(&node.params).gpu {
                match Arc::clone(&gpu).try_acquire_owned() {
                    Ok(p) => Some(p),
                    Err(_) => {
                        waiting.push((node, key, input_paths, slots));
                        continue;
                    }
                }
            } else {
                None
            };
            running.spawn(run_stage(
                node.clone(),
                key,
                input_paths,
                Arc::clone(&cache),
                (cpu_permit, gpu_permit),
                Arc::clone(&events),
                cancel.clone(),
            ));
        }
        ready = waiting;
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (name, result) = joined.map_err(|e| RunError::Stage {
            stage: "?".into(),
            kind: "?".into(),
            message: format!("stage task panicked: {e}"),
            invalid_input: false,
        })?;
        match result {
            Ok((manifest, seconds)) => {
                outcomes.push(StageOutcome {
                    name: name.clone(),
                    status: StageStatus::Ran,
                    seconds,
                });
                finished.insert(name, manifest.outputs);
            }
            Err(e) => {
                // Stop the siblings; what already finished stays cached.
                cancel.cancel();
                while running.join_next().await.is_some() {}
                return Err(e);
            }
        }
    }
    if cancel.is_cancelled() {
        return Err(RunError::Cancelled);
    }

    let mut outputs = BTreeMap::new();
    if !opts.dry_run {
        for (name, src) in &pipeline.outputs {
            let artifact = match src {
                Source::Input(i) => (inputs[i].clone(), input_digests[i]),
                Source::Stage { stage, output } => finished
                    .get(stage)
                    .and_then(|o| o.get(output))
                    .map(|b| (cache.blob_path(&b.digest), b.digest))
                    .ok_or_else(|| RunError::Inputs(format!("output '{name}' was not produced")))?,
            };
            outputs.insert(name.clone(), artifact);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let ran = outcomes
        .iter()
        .filter(|o| o.status == StageStatus::Ran)
        .count();
    let cached = outcomes
        .iter()
        .filter(|o| o.status == StageStatus::Cached)
        .count();
    (events)(&Event::Finished {
        seconds,
        ran,
        cached,
    });
    Ok(RunOutcome {
        outputs,
        stages: outcomes,
        seconds,
    })
}

/// Record a stage that will not run now (cached, or would run in a dry run).
fn settle(events: &EventSink, outcomes: &mut Vec<StageOutcome>, stage: &str, status: StageStatus) {
    let stage_name = stage.to_string();
    (events)(&match status {
        StageStatus::Cached => Event::Cached { stage: stage_name },
        _ => Event::WouldRun { stage: stage_name },
    });
    outcomes.push(StageOutcome {
        name: stage.to_string(),
        status,
        seconds: 0.0,
    });
}

/// Every declared input present, readable and of the right kind; digests of each.
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

/// The weights every stage would use, by stage name; any missing weights
/// fail the run before anything starts.
fn weight_digests(pipeline: &Pipeline) -> Result<HashMap<String, Vec<String>>, RunError> {
    let mut digests = HashMap::new();
    let mut problems = Vec::new();
    for node in &pipeline.stages {
        match node.stage.weight_digests(&node.params) {
            Ok(d) => {
                digests.insert(node.name.clone(), d);
            }
            Err(msg) => problems.push(format!("stage '{}' ({}): {msg}", node.name, node.kind())),
        }
    }
    if problems.is_empty() {
        Ok(digests)
    } else {
        Err(RunError::Inputs(problems.join("\n")))
    }
}

/// The cache key of a stage whose inputs are all known, and its input files.
fn stage_key(
    node: &StageNode,
    input_digests: &HashMap<String, Digest>,
    weights: &[String],
    inputs: &BTreeMap<String, PathBuf>,
    finished: &HashMap<String, BTreeMap<String, BlobRef>>,
    cache: &Cache,
) -> (StageKey, BTreeMap<String, PathBuf>) {
    let mut digests = BTreeMap::new();
    let mut paths = BTreeMap::new();
    for (port, src) in &node.inputs {
        let (digest, path) = match src {
            Source::Input(name) => (input_digests[name], inputs[name].clone()),
            Source::Stage { stage, output } => {
                let blob = &finished[stage][output];
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
        weights,
    );
    (key, paths)
}

/// Slots held for the whole run of a stage.
type Permits = (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>);

async fn run_stage(
    node: StageNode,
    key: StageKey,
    input_paths: BTreeMap<String, PathBuf>,
    cache: Arc<Cache>,
    permits: Permits,
    events: EventSink,
    cancel: CancelToken,
) -> (String, StageResult) {
    let name = node.name.clone();
    let result = async {
        let threads = permits.0.num_permits();
        if cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        (events)(&Event::Started {
            stage: name.clone(),
        });
        let scratch = cache.scratch_dir(&name)?;
        let outputs: BTreeMap<String, PathBuf> = node
            .ports
            .outputs
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    scratch.join(format!("{}.{}", p.name, p.ty.extension())),
                )
            })
            .collect();
        let last_message = Arc::new(std::sync::Mutex::new(String::new()));
        let progress = {
            let (events, stage, last) =
                (Arc::clone(&events), name.clone(), Arc::clone(&last_message));
            Arc::new(move |fraction: f32, message: &str| {
                if let Ok(mut l) = last.lock() {
                    *l = message.to_string();
                }
                (events)(&Event::Progress {
                    stage: stage.clone(),
                    percent: fraction * 100.0,
                    message: message.to_string(),
                })
            })
        };
        let ctx = StageContext {
            stage_name: name.clone(),
            inputs: input_paths,
            outputs: outputs.clone(),
            params: node.params.clone(),
            cancel: cancel.clone(),
            threads,
            progress,
        };
        let clock = Instant::now();
        let stage = Arc::clone(&node.stage);
        let ran = tokio::task::spawn_blocking(move || stage.run(&ctx)).await;
        let ran = ran.unwrap_or_else(|e| Err(StageError::Failed(format!("stage panicked: {e}"))));
        let seconds = clock.elapsed().as_secs_f64();
        let fail = |message: String, invalid_input: bool| RunError::Stage {
            stage: name.clone(),
            kind: node.kind().to_string(),
            message,
            invalid_input,
        };
        let stored = match ran {
            // A child process interrupted along with us fails in its own way: it is still a cancel.
            Err(_) if cancel.is_cancelled() => Err(RunError::Cancelled),
            Err(e @ StageError::InvalidInput(_)) => Err(fail(e.to_string(), true)),
            Err(e) => Err(fail(e.to_string(), false)),
            Ok(()) => store_outputs(&cache, &key, &node, &outputs, seconds)
                .map(|m| (m, seconds))
                .map_err(|e| match e {
                    StoreError::Missing(m) => {
                        fail(format!("finished without writing its output '{m}'"), false)
                    }
                    StoreError::Cache(c) => c.into(),
                }),
        };
        let _ = std::fs::remove_dir_all(&scratch);
        match &stored {
            Ok(_) => {
                let message = last_message.lock().map(|m| m.clone()).unwrap_or_default();
                (events)(&Event::Done {
                    stage: name.clone(),
                    seconds,
                    message,
                })
            }
            Err(RunError::Cancelled) => {}
            Err(e) => (events)(&Event::Failed {
                stage: name.clone(),
                error: e.to_string(),
            }),
        }
        stored
    }
    .await;
    (name, result)
}

enum StoreError {
    Missing(String),
    Cache(CacheError),
}

/// Move a finished run's outputs into the cache and record its manifest.
fn store_outputs(
    cache: &Cache,
    key: &StageKey,
    node: &StageNode,
    outputs: &BTreeMap<String, PathBuf>,
    seconds: f64,
) -> Result<Manifest, StoreError> {
    let mut blobs = BTreeMap::new();
    for (out_name, path) in outputs {
        if !path.is_file() {
            return Err(StoreError::Missing(out_name.clone()));
        }
        blobs.insert(
            out_name.clone(),
            cache.put_file(path).map_err(StoreError::Cache)?,
        );
    }
    let manifest = Manifest {
        stage: node.name.clone(),
        kind: node.kind().to_string(),
        created_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        seconds,
        outputs: blobs,
    };
    cache.record(key, &manifest).map_err(StoreError::Cache)?;
    Ok(manifest)
}

/// Copy a finished artifact to a user's path atomically: a partial copy never
/// replaces an existing file. A destination that already holds these bytes is
/// left alone (checked through the cache's file memo, so without re-hashing).
pub fn deliver(cache: &Cache, artifact: &(PathBuf, Digest), dest: &Path) -> Result<(), CacheError> {
    let (blob, digest) = artifact;
    if dest.is_file() && cache.file_digest(dest).ok() == Some(*digest) {
        return Ok(());
    }
    let io = |e: std::io::Error| CacheError::Io {
        context: format!("writing {}", dest.display()),
        source: e,
    };
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(
        ".{}.partial-{}",
        dest.file_name()
            .map_or("out".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let copy = || -> std::io::Result<()> {
        // A fresh file gets the user's umask (the blob itself is read-only).
        let mut out = std::fs::File::create(&tmp)?;
        std::io::copy(&mut std::fs::File::open(blob)?, &mut out)?;
        out.sync_all()?;
        std::fs::rename(&tmp, dest)
    };
    if let Err(e) = copy() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    cache.remember_file(dest, *digest)
}
