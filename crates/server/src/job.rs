//! One job, whichever way it arrived (direct, queued, in a batch): fetch its
//! inputs, run the pipeline on the shared engine, put the outputs where
//! `/files` serves them, and describe them.

use crate::error::ApiError;
use crate::model::{
    BatchInput, BatchItem, BatchOutput, PipelineInput, PipelineOutput, SyncInput, SyncResult,
};
use crate::state::Ctx;
use crate::validate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Notify;
use vantage_app::diagnostic::{self, DiagnosticDir};
use vantage_app::{EventSink, Mode, RunRequest, Summary, SyncOutput, SyncRequest};
use vantage_core::CancelToken;
use vantage_runner::{PieceRequest, RunOutcome};

/// What a job runs (the path it was posted to, without the app prefix).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "endpoint", content = "name", rename_all = "snake_case")]
pub enum Endpoint {
    Sync,
    Diagnostic,
    Batch,
    /// `/stream` over the queue: a sync whose progress is the status stream.
    Stream,
    Pipeline(String),
    /// A piece of a long render another replica leads (`--peer`).
    Piece,
}

impl Endpoint {
    /// `""`, `sync`, `diagnostic`, `batch`, `stream`, `pipelines/NAME`, `pieces`.
    pub fn parse(path: &[&str]) -> Option<Endpoint> {
        Some(match path {
            [] | ["sync"] => Endpoint::Sync,
            ["diagnostic"] => Endpoint::Diagnostic,
            ["batch"] => Endpoint::Batch,
            ["stream"] => Endpoint::Stream,
            ["pipelines", name] => Endpoint::Pipeline(name.to_string()),
            ["pieces"] => Endpoint::Piece,
            _ => return None,
        })
    }

    /// The path it is posted to, without the app prefix (`parse`'s inverse).
    pub fn path(&self) -> String {
        match self {
            Endpoint::Sync => "sync".into(),
            Endpoint::Diagnostic => "diagnostic".into(),
            Endpoint::Batch => "batch".into(),
            Endpoint::Stream => "stream".into(),
            Endpoint::Pipeline(name) => format!("pipelines/{name}"),
            Endpoint::Piece => "pieces".into(),
        }
    }

    /// Check `body` as this endpoint's input, before any work (422 if
    /// not); `base` is the address the request came to.
    pub fn validate(&self, ctx: &Ctx, body: &[u8], base: &str) -> Result<Value, ApiError> {
        let policy = ctx.fetcher.policy();
        let own = &ctx.own_bases(base);
        let (errors, input) = match self {
            Endpoint::Sync | Endpoint::Diagnostic | Endpoint::Stream => {
                let input: SyncInput = validate::parse(body).map_err(ApiError::validation)?;
                (
                    validate::sync_input(&input, &[], policy, own),
                    to_json(&input),
                )
            }
            Endpoint::Batch => {
                let batch: BatchInput = validate::parse(body).map_err(ApiError::validation)?;
                let errors = if batch.inputs.is_empty()
                    || batch.inputs.len() > crate::model::MAX_BATCH
                {
                    let msg = format!("a batch holds 1 to {} inputs", crate::model::MAX_BATCH);
                    vec![crate::model::FieldError::new(
                        vec![json!("body"), json!("inputs")],
                        msg,
                        "value_error",
                    )]
                } else {
                    batch
                        .inputs
                        .iter()
                        .enumerate()
                        .flat_map(|(i, input)| {
                            validate::sync_input(input, &[json!("inputs"), json!(i)], policy, own)
                        })
                        .collect()
                };
                (errors, to_json(&batch))
            }
            Endpoint::Pipeline(name) => {
                let input: PipelineInput = validate::parse(body).map_err(ApiError::validation)?;
                (ctx.pipeline_errors(name, &input, own)?, to_json(&input))
            }
            Endpoint::Piece => {
                let input: PieceRequest = validate::parse(body).map_err(ApiError::validation)?;
                (Vec::new(), to_json(&input))
            }
        };
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(input)
    }
}

/// Stops a job: trips the stages' token and wakes whoever awaits the run.
#[derive(Clone, Default)]
pub struct Cancel {
    pub token: CancelToken,
    notify: Arc<Notify>,
}

impl Cancel {
    pub fn cancel(&self) {
        self.token.cancel();
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    async fn cancelled(&self) {
        if !self.token.is_cancelled() {
            self.notify.notified().await;
        }
    }
}

/// Where a job's files live and how their URLs start.
pub struct Job<'a> {
    pub ctx: &'a Ctx,
    pub id: String,
    /// `scheme://host` the client used (or the server's public URL): its
    /// `/files/...` URLs are this server's own files.
    pub base: String,
    /// What produced URLs start with: `base` for a direct request, empty
    /// (URLs from `/files/`) for a stored one, made absolute when answered.
    pub link_base: String,
    pub events: EventSink,
    pub cancel: Cancel,
}

impl Job<'_> {
    fn files(&self) -> PathBuf {
        self.ctx.data.files().join(&self.id)
    }
    fn url(&self, path: &Path) -> String {
        let rel = path.strip_prefix(self.ctx.data.files()).unwrap_or(path);
        format!("{}/files/{}", self.link_base, rel.display())
    }

    /// Run `endpoint` on its validated `input`: the downloaded inputs are
    /// removed after, and the job's files too when it fails.
    pub async fn execute(&self, endpoint: &Endpoint, input: &Value) -> Result<Value, ApiError> {
        let _active = crate::state::Active::new(self.ctx);
        let result = match self.dispatch(endpoint, input).await {
            Ok(value) => {
                let files = self.ctx.data.files();
                self.ctx
                    .outputs
                    .publish(value, &files, &self.link_base)
                    .await
            }
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_dir_all(self.ctx.data.work().join(&self.id));
        if result.is_err() {
            let _ = std::fs::remove_dir_all(self.files());
        }
        result
    }

    async fn dispatch(&self, endpoint: &Endpoint, input: &Value) -> Result<Value, ApiError> {
        let result = match endpoint {
            Endpoint::Sync | Endpoint::Stream => to_json(&self.sync(&parsed(input)?, false).await?),
            Endpoint::Diagnostic => to_json(&self.sync(&parsed(input)?, true).await?),
            Endpoint::Batch => to_json(&self.batch(parsed(input)?).await),
            Endpoint::Pipeline(name) => to_json(&self.pipeline(name, &parsed(input)?).await?),
            Endpoint::Piece => self.piece(parsed(input)?).await?,
        };
        Ok(result)
    }

    /// Bring the inputs to the job's work folder, each error naming its field.
    async fn fetch_all(&self, urls: &[(String, &str)]) -> Result<Vec<PathBuf>, ApiError> {
        let work = self.ctx.data.work().join(&self.id);
        tokio::fs::create_dir_all(&work).await.map_err(internal)?;
        let own = self.ctx.own_bases(&self.base);
        let fetches = urls.iter().map(|(field, url)| {
            let (work, own) = (&work, &own);
            async move {
                let name = field.trim_end_matches("_url").replace('/', "_");
                self.ctx
                    .fetcher
                    .fetch(url, work, &name, own)
                    .await
                    .map_err(|msg| {
                        ApiError::validation(vec![crate::model::FieldError::new(
                            std::iter::once("body")
                                .chain(field.split('/'))
                                .map(|s| json!(s))
                                .collect(),
                            msg,
                            "file_download_error",
                        )])
                    })
            }
        });
        let fetched = tokio::select! {
            r = futures_util::future::try_join_all(fetches) => r?,
            () = self.cancel.cancelled() => return Err(ApiError::cancelled()),
        };
        Ok(fetched)
    }

    async fn sync(&self, input: &SyncInput, diagnostic: bool) -> Result<SyncResult, ApiError> {
        let paths = self
            .fetch_all(&[
                ("video_url".into(), input.video_url.as_str()),
                ("audio_url".into(), input.audio_url.as_str()),
            ])
            .await?;
        let request = SyncRequest {
            mode: input.rife_mode,
            fps: input.fps.clone(),
            model: input.whisper_model.clone(),
            on_mismatch: input.on_mismatch,
            diagnostic: diagnostic || input.diagnostic_mode,
            device: self.ctx.device,
        };
        let files = self.files();
        let video = files.join("synchronized.mp4");
        let dir = DiagnosticDir(files.join("diagnostic"));
        let mut outputs = vec![
            (SyncOutput::Video, video.clone()),
            (SyncOutput::Timecodes, files.join("timecodes.txt")),
            (SyncOutput::Alignment, files.join("alignment.json")),
        ];
        if request.mode != Mode::Vfr {
            outputs.push((SyncOutput::Frames, files.join("frames.json")));
            outputs.push((SyncOutput::Freezes, files.join("freezes.json")));
        }
        if request.diagnostic {
            outputs.push((SyncOutput::Diagnostic, dir.video()));
        }
        let registry = self.ctx.engine.registry();
        let run = request
            .run_request(registry, &[], paths[0].clone(), paths[1].clone(), &outputs)
            .map_err(|e| ApiError::from_app(&e, sync_field))?;
        let outcome = self.run(&run, sync_field).await?;
        if request.diagnostic {
            let title = format!("{} → {}", short(&input.video_url), short(&input.audio_url));
            for warning in diagnostic::write_report(&outcome, &dir, &video, &title)
                .map_err(|e| ApiError::from_app(&e, sync_field))?
            {
                tracing::warn!("{}: {warning}", self.id);
            }
        }
        let metadata = Summary::of(&outcome).map_err(|e| ApiError::from_app(&e, sync_field))?;
        let exists = |p: PathBuf| p.is_file().then(|| self.url(&p));
        Ok(SyncResult {
            synchronized_video_url: self.url(&video),
            diagnostic_video_url: exists(dir.video()),
            report_url: exists(dir.report()),
            warp_plot_url: exists(dir.svg()),
            timecodes_url: self.url(&files.join("timecodes.txt")),
            alignment_url: self.url(&files.join("alignment.json")),
            frames_url: exists(files.join("frames.json")),
            freezes_url: exists(files.join("freezes.json")),
            metadata,
        })
    }

    /// Run on the shared engine; a cancel stops the stages at once (the
    /// finished ones stay cached).
    async fn run(
        &self,
        run: &RunRequest,
        field: fn(&str, &str) -> String,
    ) -> Result<RunOutcome, ApiError> {
        tokio::fs::create_dir_all(self.files())
            .await
            .map_err(internal)?;
        if let Some((_, dest)) = run.outputs.iter().find(|(n, _)| n == "diagnostic") {
            if let Some(parent) = dest.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(internal)?;
            }
        }
        let engine = &self.ctx.engine;
        let result = tokio::select! {
            r = vantage_app::run(engine, run, self.events.clone(), self.cancel.token.clone()) => r,
            () = self.cancel.cancelled() => return Err(ApiError::cancelled()),
        };
        result.map_err(|e| ApiError::from_app(&e, field))
    }

    /// Make a piece for the replica that leads its run; the piece itself
    /// goes to the shared cache, the answer only says which it was.
    async fn piece(&self, req: PieceRequest) -> Result<Value, ApiError> {
        let answer = json!({"kind": req.kind, "key": req.key, "piece": req.piece});
        let engine = &self.ctx.engine;
        let result = tokio::select! {
            r = engine.run_piece(req, self.events.clone(), self.cancel.token.clone()) => r,
            () = self.cancel.cancelled() => return Err(ApiError::cancelled()),
        };
        result.map_err(|e| ApiError::from_app(&e.into(), |_, param| format!("params.{param}")))?;
        Ok(answer)
    }

    /// Every item through the running limit, each its own result or error.
    async fn batch(&self, batch: BatchInput) -> BatchOutput {
        // Within the one running slot the batch holds; the engine's CPU
        // slots bound the stages underneath.
        let slots = &tokio::sync::Semaphore::new(self.ctx.max_running);
        let items = batch
            .inputs
            .iter()
            .enumerate()
            .map(|(i, input)| async move {
                let item = Job {
                    ctx: self.ctx,
                    id: format!("{}/{i}", self.id),
                    base: self.base.clone(),
                    link_base: self.link_base.clone(),
                    events: self.events.clone(),
                    cancel: self.cancel.clone(),
                };
                let _permit = slots.acquire().await;
                let result = item.sync(input, false).await;
                let _ = std::fs::remove_dir_all(self.ctx.data.work().join(&item.id));
                match result {
                    Ok(r) => BatchItem::Ok(Box::new(r)),
                    Err(e) => BatchItem::Failed(e.to_body()),
                }
            });
        BatchOutput {
            outputs: futures_util::future::join_all(items).await,
        }
    }

    async fn pipeline(
        &self,
        name: &str,
        input: &PipelineInput,
    ) -> Result<PipelineOutput, ApiError> {
        let field = |stage: &str, param: &str| format!("params.{stage}.{param}");
        let pipeline = self.ctx.load_pipeline(name, input)?;
        let named: Vec<(String, &str)> = input
            .inputs
            .iter()
            .map(|(n, u)| (format!("inputs/{n}"), u.as_str()))
            .collect();
        let paths = self.fetch_all(&named).await?;
        let inputs: BTreeMap<String, PathBuf> = input.inputs.keys().cloned().zip(paths).collect();
        let wanted: Vec<String> = match &input.outputs {
            Some(names) => names.clone(),
            None => pipeline.outputs.iter().map(|(n, _)| n.clone()).collect(),
        };
        let files = self.files();
        let outputs = wanted.iter().map(|n| (n.clone(), files.join(n))).collect();
        let run = RunRequest {
            pipeline,
            inputs,
            outputs,
            opts: Default::default(),
        };
        let outcome = self.run(&run, field).await?;
        let mut urls = BTreeMap::new();
        for (name, path) in &run.outputs {
            let named = path.with_extension(sniff_extension(path));
            std::fs::rename(path, &named).map_err(internal)?;
            urls.insert(name.clone(), self.url(&named));
        }
        Ok(PipelineOutput {
            outputs: urls,
            stages: Summary::stage_timings(&outcome),
            seconds: outcome.seconds,
        })
    }
}

/// `value` with every relative `/files/...` URL made absolute on `base`.
pub fn absolutize(value: &Value, base: &str) -> Value {
    map_strings(value, &mut |s| {
        s.starts_with("/files/").then(|| format!("{base}{s}"))
    })
}

/// `value` with each string replaced where `f` gives a replacement, at any depth.
pub fn map_strings(value: &Value, f: &mut dyn FnMut(&str) -> Option<String>) -> Value {
    match value {
        Value::String(s) => Value::String(f(s).unwrap_or_else(|| s.clone())),
        Value::Array(items) => Value::Array(items.iter().map(|v| map_strings(v, f)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), map_strings(v, f)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A stored input (validated when it was submitted) as its type.
fn parsed<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, ApiError> {
    serde_json::from_value(v.clone())
        .map_err(|e| ApiError::new(422, "validation_error", e.to_string()))
}

/// A sync's `stage.param` as the request field that sets it.
fn sync_field(stage: &str, param: &str) -> String {
    match (stage, param) {
        ("analyze", "on_mismatch") => "on_mismatch".into(),
        ("interpolate", "mode") => "rife_mode".into(),
        ("source-words" | "target-words", "model") => "whisper_model".into(),
        _ => format!("{stage}.{param}"),
    }
}

fn short(url: &str) -> String {
    if url.starts_with("data:") {
        return "(data URI)".into();
    }
    url.rsplit('/')
        .next()
        .unwrap_or(url)
        .chars()
        .take(60)
        .collect()
}

/// An extension for an output whose type the pipeline does not name.
fn sniff_extension(path: &Path) -> &'static str {
    let mut head = [0u8; 12];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    let head = &head[..n];
    if head.len() >= 8 && &head[4..8] == b"ftyp" {
        "mp4"
    } else if head.starts_with(b"RIFF") {
        "wav"
    } else if head.first().is_some_and(|c| *c == b'{' || *c == b'[') {
        "json"
    } else if head.starts_with(b"<svg") || head.starts_with(b"<?xml") {
        "svg"
    } else if head.starts_with(b"<!DOCTYPE") || head.starts_with(b"<html") {
        "html"
    } else {
        "txt"
    }
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(500, "internal_error", e.to_string())
}
