//! Pieces of a stage run made on other replicas.
//!
//! The leader of a run hands a piece to a peer as a [`PieceRequest`]: what
//! the run's cache key is made of (stage type, params, input blobs) rather
//! than the key itself, so the peer derives the key on its own and what it
//! keeps under it is what those inputs give, whoever asked. Inputs travel
//! through the remote cache tier both share; so does the finished piece.
//!
//! ```text
//! leader: stage.run --Peers::make--> PeerLink (HTTP queue) --> peer: Engine::run_piece
//!            ^                                                     |
//!            +------------ piece, through the remote tier ---------+
//! ```

use crate::pieces::CachedPieces;
use crate::{Engine, Event, EventSink, RunError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use vantage_cache::{BlobRef, Cache, Digest, StageKey};
use vantage_core::{CancelToken, Params, Peers, StageContext, StageError};

/// A way to reach one peer (the server's queue client, say).
pub trait PeerLink: Send + Sync {
    /// Where it is, for messages.
    fn name(&self) -> String;
    /// Have the peer run `request` and wait for it to finish; `stop` is
    /// polled, and true abandons (cancels) the request.
    fn run(&self, request: &PieceRequest, stop: &dyn Fn() -> bool) -> Result<(), String>;
}

/// One piece of a run, as a peer is asked to make it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PieceRequest {
    /// The stage type (`interpolate`).
    pub kind: String,
    /// The leader's key for the run: a peer that derives another one (a
    /// different version or weights) refuses instead of making a piece
    /// the leader would not find.
    pub key: String,
    pub params: Params,
    /// Input port -> the blob in the shared tier.
    pub inputs: BTreeMap<String, BlobRef>,
    /// Which piece, in the stage's own terms.
    pub piece: Value,
}

/// [`Peers`] for one stage run: uploads the run's inputs once, on the first
/// piece handed out, then asks each link for pieces.
pub(crate) struct RunPeers {
    pub links: Arc<[Arc<dyn PeerLink>]>,
    pub cache: Arc<Cache>,
    pub kind: String,
    pub key: StageKey,
    pub params: Params,
    /// Input port -> its file and digest.
    pub inputs: BTreeMap<String, (PathBuf, Digest)>,
    pub shared: OnceLock<Result<BTreeMap<String, BlobRef>, String>>,
}

impl RunPeers {
    fn shared_inputs(&self) -> Result<&BTreeMap<String, BlobRef>, String> {
        let shared = self.shared.get_or_init(|| {
            self.inputs
                .iter()
                .map(|(port, (path, digest))| {
                    let blob = self
                        .cache
                        .share_blob(path, *digest)
                        .map_err(|e| format!("sharing input '{port}': {e}"))?;
                    Ok((port.clone(), blob))
                })
                .collect()
        });
        shared.as_ref().map_err(Clone::clone)
    }
}

impl Peers for RunPeers {
    fn count(&self) -> usize {
        self.links.len()
    }

    fn name(&self, peer: usize) -> String {
        self.links.get(peer).map_or_else(String::new, |l| l.name())
    }

    fn make(&self, peer: usize, piece: &Value, stop: &dyn Fn() -> bool) -> Result<(), String> {
        let link = self.links.get(peer).ok_or("no such peer")?;
        let request = PieceRequest {
            kind: self.kind.clone(),
            key: self.key.to_string(),
            params: self.params.clone(),
            inputs: self.shared_inputs()?.clone(),
            piece: piece.clone(),
        };
        link.run(&request, stop)
    }
}

impl Engine {
    /// Make the piece `req` asks for (a peer's share of another replica's
    /// run): its inputs come from the remote tier, the piece goes back there.
    /// Holds the stage's usual CPU/GPU slots while it works.
    pub async fn run_piece(
        &self,
        req: PieceRequest,
        events: EventSink,
        cancel: CancelToken,
    ) -> Result<(), RunError> {
        let refuse = |why: String| RunError::Inputs(format!("piece of {}: {why}", req.kind));
        let stage = self
            .registry()
            .get(&req.kind)
            .ok_or_else(|| refuse("this replica has no such stage".into()))?
            .clone();
        if self.cache().remote().is_none() {
            return Err(refuse(
                "this replica has no remote cache tier to read the inputs from (--cache-remote)"
                    .into(),
            ));
        }
        let weights = stage
            .weight_digests(&req.params)
            .map_err(|e| refuse(e.to_string()))?;
        let digests = req
            .inputs
            .iter()
            .map(|(p, b)| (p.clone(), b.digest))
            .collect();
        let key = crate::stage_run::stage_key(stage.as_ref(), &req.params, &digests, &weights);
        if key.to_string() != req.key {
            return Err(refuse(format!(
                "this replica's key for the run is {key}, the leader's {}: they run different versions or weights",
                req.key
            )));
        }
        let resources = stage.resources(&req.params);
        let grant = self.slots().acquire(resources.cpu, resources.gpu).await;
        let cache = Arc::clone(self.cache());
        let blocking = tokio::task::spawn_blocking(move || {
            let name = format!("{} piece", req.kind);
            (events)(&Event::Started {
                stage: name.clone(),
            });
            let result = make_piece(&*stage, &req, key, &cache, grant.threads(), &events, cancel);
            drop(grant);
            result.map_err(|error| match error {
                StageError::Cancelled => RunError::Cancelled,
                error => RunError::Stage {
                    stage: name,
                    kind: req.kind.clone(),
                    error,
                },
            })
        });
        blocking
            .await
            .map_err(|e| RunError::Internal(format!("a piece panicked: {e}")))?
    }
}

/// On a blocking thread: fetch the inputs, then run the stage's piece in a
/// context like the one its whole run would have.
fn make_piece(
    stage: &dyn vantage_core::Stage,
    req: &PieceRequest,
    key: StageKey,
    cache: &Arc<Cache>,
    threads: usize,
    events: &EventSink,
    cancel: CancelToken,
) -> Result<(), StageError> {
    let cache_err = |e: vantage_cache::CacheError| StageError::internal(format!("cache: {e}"));
    let mut lease = cache.lease();
    let mut inputs = BTreeMap::new();
    for (port, blob) in &req.inputs {
        let path = cache.fetch_blob(blob, &mut lease).map_err(cache_err)?;
        inputs.insert(port.clone(), path);
    }
    let scratch = cache.scratch_dir("piece").map_err(cache_err)?;
    let name = format!("{} piece", req.kind);
    let ctx = StageContext {
        stage_name: name.clone(),
        inputs,
        outputs: crate::stage_run::scratch_outputs(&stage.ports(&req.params), &scratch),
        params: req.params.clone(),
        cancel,
        threads,
        progress: crate::stage_run::reporter(events, &name, &Arc::new(Mutex::new(String::new()))),
        pieces: Some(Arc::new(CachedPieces::new(
            Arc::clone(cache),
            key,
            &name,
            &req.kind,
        ))),
        peers: None,
    };
    let result = stage.run_piece(&ctx, &req.piece);
    let _ = std::fs::remove_dir_all(&scratch);
    drop(lease);
    result
}
