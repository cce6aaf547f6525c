//! One stage run: scratch outputs, the stage on a blocking thread, its
//! outputs moved into the cache and its manifest recorded.

use crate::events::{Event, EventSink};
use crate::inflight::Leader;
use crate::peers::{PeerLink, RunPeers};
use crate::pieces::CachedPieces;
use crate::pipeline::StageNode;
use crate::slots::Grant;
use crate::RunError;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use vantage_cache::{Cache, CacheError, Digest, Lease, Manifest, StageKey};
use vantage_core::{CancelToken, StageContext, StageError};

/// A stage ready to run: its key and the files on its input ports.
pub(crate) struct Job {
    pub node: StageNode,
    pub key: StageKey,
    pub inputs: BTreeMap<String, PathBuf>,
    pub digests: BTreeMap<String, Digest>,
}

/// The cache key of a run of `stage`: its type, version, parameters, input
/// digests and weights, less its [`guards`](vantage_core::Stage::guards).
pub(crate) fn stage_key(
    stage: &dyn vantage_core::Stage,
    params: &vantage_core::Params,
    digests: &BTreeMap<String, Digest>,
    weights: &[String],
) -> StageKey {
    let guards = stage.guards();
    let params = params
        .iter()
        .filter(|(k, _)| !guards.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let digests = digests
        .iter()
        .filter(|(k, _)| !guards.contains(&k.as_str()))
        .map(|(k, d)| (k.clone(), *d))
        .collect();
    StageKey::new(stage.kind(), stage.version(), &params, &digests, weights)
}

/// What a finished run hands back: its manifest, how long it took, and the
/// lease on the blobs it published.
pub(crate) struct Ran {
    pub manifest: Manifest,
    pub seconds: f64,
    pub lease: Lease,
}

/// Run `job` holding `grant` (and the claim on its key, `leader`), emitting
/// started/progress/done/failed. Everything happens on a blocking thread
/// (the stage, hashing and fsyncing its outputs), which also owns the grant
/// and the claim: if the run's task is dropped, they are released only when
/// the stage has really stopped.
pub(crate) async fn run(
    job: Job,
    leader: Leader,
    cache: Arc<Cache>,
    peers: Arc<[Arc<dyn PeerLink>]>,
    grant: Grant,
    events: EventSink,
    cancel: CancelToken,
) -> Result<Ran, RunError> {
    let name = job.node.name.clone();
    let kind = job.node.kind();
    if cancel.is_cancelled() {
        return Err(RunError::Cancelled);
    }
    let sink = Arc::clone(&events);
    let blocking = tokio::task::spawn_blocking(move || {
        let stage = job.node.name.clone();
        (sink)(&Event::Started {
            stage: stage.clone(),
        });
        let last_message = Arc::new(Mutex::new(String::new()));
        let progress = reporter(&sink, &stage, &last_message);
        let result = run_blocking(&job, &cache, peers, grant.threads(), progress, cancel);
        match &result {
            Ok(ran) => (sink)(&Event::Done {
                stage: stage.clone(),
                seconds: ran.seconds,
                message: last_message.lock().map(|m| m.clone()).unwrap_or_default(),
            }),
            Err(RunError::Cancelled) => {}
            Err(e) => (sink)(&Event::Failed {
                stage: stage.clone(),
                error: e.to_string(),
            }),
        }
        // Shared before the claim is released: a follower, here or on
        // another replica, finds it.
        if let (Ok(ran), Some(_)) = (&result, cache.remote()) {
            if let Err(e) = cache.publish_remote(&job.key, &ran.manifest) {
                (sink)(&Event::Remote {
                    stage,
                    message: format!("not shared: {e}"),
                });
            }
        }
        // Released after its end is reported (a stage's Started..Done lies
        // within its hold on the slots) and its manifest recorded (followers
        // of the key find it in the cache).
        drop((grant, leader));
        result
    });
    blocking.await.unwrap_or_else(|e| {
        let error = RunError::Stage {
            stage: name.clone(),
            kind: kind.to_string(),
            error: StageError::internal(format!("stage panicked: {e}")),
        };
        (events)(&Event::Failed {
            stage: name,
            error: error.to_string(),
        });
        Err(error)
    })
}

/// Progress events for `stage`, remembering the last message for its Done event.
pub(crate) fn reporter(
    events: &EventSink,
    stage: &str,
    last: &Arc<Mutex<String>>,
) -> vantage_core::Progress {
    let (events, stage, last) = (Arc::clone(events), stage.to_string(), Arc::clone(last));
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
}

fn run_blocking(
    job: &Job,
    cache: &Arc<Cache>,
    peers: Arc<[Arc<dyn PeerLink>]>,
    threads: usize,
    progress: vantage_core::Progress,
    cancel: CancelToken,
) -> Result<Ran, RunError> {
    let node = &job.node;
    let scratch = cache.scratch_dir(&node.name)?;
    let outputs = scratch_outputs(&node.ports, &scratch);
    let ctx = StageContext {
        stage_name: node.name.clone(),
        inputs: job.inputs.clone(),
        outputs: outputs.clone(),
        params: node.params.clone(),
        cancel: cancel.clone(),
        threads,
        progress,
        pieces: Some(Arc::new(CachedPieces::new(
            Arc::clone(cache),
            job.key,
            &node.name,
            node.kind(),
        ))),
        peers: run_peers(job, cache, peers),
    };
    let clock = Instant::now();
    let ran = node.stage.run(&ctx);
    let seconds = clock.elapsed().as_secs_f64();
    let fail = |error: StageError| RunError::Stage {
        stage: node.name.clone(),
        kind: node.kind().to_string(),
        error,
    };
    let stored = match ran {
        // A child process interrupted along with us fails in its own way: it is still a cancel.
        Err(_) if cancel.is_cancelled() => Err(RunError::Cancelled),
        Err(StageError::Cancelled) => Err(RunError::Cancelled),
        Err(e) => Err(fail(e)),
        Ok(()) => store(cache, job, &outputs, seconds).map_err(|e| match e {
            StoreError::Missing(m) => fail(StageError::internal(format!(
                "finished without writing its output '{m}'"
            ))),
            StoreError::Cache(c) => c.into(),
        }),
    };
    let _ = std::fs::remove_dir_all(&scratch);
    stored
}

/// The peers `job` may hand pieces to: none without the remote tier, which
/// carries the inputs and the pieces.
fn run_peers(
    job: &Job,
    cache: &Arc<Cache>,
    links: Arc<[Arc<dyn PeerLink>]>,
) -> Option<Arc<dyn vantage_core::Peers>> {
    if links.is_empty() || cache.remote().is_none() {
        return None;
    }
    let inputs = job
        .inputs
        .iter()
        .filter_map(|(port, path)| Some((port.clone(), (path.clone(), *job.digests.get(port)?))))
        .collect();
    Some(Arc::new(RunPeers {
        links,
        cache: Arc::clone(cache),
        kind: job.node.kind().to_string(),
        key: job.key,
        params: job.node.params.clone(),
        inputs,
        shared: Default::default(),
    }))
}

/// Output port -> its file in `scratch`, where the stage writes it.
pub(crate) fn scratch_outputs(
    ports: &vantage_core::Ports,
    scratch: &std::path::Path,
) -> BTreeMap<String, PathBuf> {
    ports
        .outputs
        .iter()
        .map(|p| {
            let file = format!("{}.{}", p.name, p.ty.extension());
            (p.name.clone(), scratch.join(file))
        })
        .collect()
}

enum StoreError {
    Missing(String),
    Cache(CacheError),
}

/// Move a finished run's outputs into the cache and record its manifest.
fn store(
    cache: &Cache,
    job: &Job,
    outputs: &BTreeMap<String, PathBuf>,
    seconds: f64,
) -> Result<Ran, StoreError> {
    let mut lease = cache.lease();
    let mut blobs = BTreeMap::new();
    for (out_name, path) in outputs {
        if !path.is_file() {
            return Err(StoreError::Missing(out_name.clone()));
        }
        let blob = cache
            .put_file(path, &mut lease)
            .map_err(StoreError::Cache)?;
        blobs.insert(out_name.clone(), blob);
    }
    let manifest = Manifest {
        stage: job.node.name.clone(),
        kind: job.node.kind().to_string(),
        created_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        seconds,
        outputs: blobs,
    };
    cache
        .record(&job.key, &manifest)
        .map_err(StoreError::Cache)?;
    Ok(Ran {
        manifest,
        seconds,
        lease,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vantage_core::{ParamSpec, Params, Ports, Stage, StageContext, StageError};

    /// A stage with a guard input and a guard parameter.
    struct Checked;

    impl Stage for Checked {
        fn kind(&self) -> &'static str {
            "checked"
        }
        fn version(&self) -> u32 {
            1
        }
        fn describe(&self) -> &'static str {
            ""
        }
        fn params(&self) -> Vec<ParamSpec> {
            Vec::new()
        }
        fn ports(&self, _: &Params) -> Ports {
            Ports {
                inputs: Vec::new(),
                outputs: Vec::new(),
            }
        }
        fn guards(&self) -> &'static [&'static str] {
            &["other", "limit"]
        }
        fn run(&self, _: &StageContext) -> Result<(), StageError> {
            Ok(())
        }
    }

    #[test]
    fn guards_are_left_out_of_the_key() {
        let key = |limit: f64, main: &[u8], other: &[u8]| {
            let params = Params::from([
                ("limit".to_string(), serde_json::json!(limit)),
                ("mode".to_string(), serde_json::json!("x")),
            ]);
            let digests = BTreeMap::from([
                ("audio".to_string(), Digest::of(main)),
                ("other".to_string(), Digest::of(other)),
            ]);
            stage_key(&Checked, &params, &digests, &[])
        };
        assert_eq!(key(3.0, b"a", b"b"), key(5.0, b"a", b"c"));
        assert_ne!(key(3.0, b"a", b"b"), key(3.0, b"z", b"b"));
    }
}
