//! The wire types: what each endpoint takes and returns. The handlers parse
//! and answer with exactly these, and `/openapi.json` is generated from them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use vantage_app::{Mode, OnMismatch, Summary};

/// `POST /sync`, `/diagnostic`, `/stream`: a video and the new narration.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = SyncInput::example())]
pub struct SyncInput {
    /// The source video with the original speech: an `https://` or `http://`
    /// URL, a `data:` URI, or a `file://` URL under the server's `--allow-dir`.
    #[schemars(extend("ui" = {"field": "video"}))]
    pub video_url: String,
    /// The new narration (any audio or video file with the same words).
    #[schemars(extend("ui" = {"field": "audio"}))]
    pub audio_url: String,
    /// How frames between source frames are made: `off` repeats the nearest
    /// frame, `blend` cross-fades, `adaptive` runs RIFE where a frame would
    /// repeat, `precision` at every in-between position, `maximum` both ways
    /// averaged; `vfr` restamps every source frame (no re-encode).
    #[serde(default)]
    pub rife_mode: Mode,
    /// Also render the diagnostic video, warp plot and report.
    #[serde(default)]
    pub diagnostic_mode: bool,
    /// Output frame rate ("24", "30000/1001"); the source's when absent.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(/[0-9]+)?$"))]
    pub fps: Option<String>,
    /// An installed Whisper model for both transcripts (e.g. `tiny.en`, `base`).
    #[serde(default)]
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"))]
    pub whisper_model: Option<String>,
    /// When source and target do not say the same words: `fail` before
    /// rendering, align the sounds anyway (`acoustic`), or stretch evenly (`linear`).
    #[serde(default)]
    pub on_mismatch: Option<OnMismatch>,
}

impl SyncInput {
    fn example() -> SyncInput {
        SyncInput {
            video_url: "https://example.com/clip.mp4".into(),
            audio_url: "https://example.com/narration.wav".into(),
            rife_mode: Mode::Adaptive,
            diagnostic_mode: false,
            fps: None,
            whisper_model: None,
            on_mismatch: None,
        }
    }
}

/// What a sync produced. URLs are absolute and served by this server.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct SyncResult {
    /// The re-timed video with the new audio.
    #[schemars(extend("ui" = {"field": "video"}))]
    pub synchronized_video_url: String,
    /// The diagnostic video (when `diagnostic_mode` or `/diagnostic`).
    #[schemars(extend("ui" = {"field": "video"}))]
    pub diagnostic_video_url: Option<String>,
    /// The diagnostic's HTML report and warp plot.
    pub report_url: Option<String>,
    pub warp_plot_url: Option<String>,
    /// One new timestamp per source frame ("timecode format v2").
    pub timecodes_url: String,
    /// The warp and its confidence (JSON).
    pub alignment_url: String,
    /// How each output frame was made (JSON; not in mode vfr).
    pub frames_url: Option<String>,
    /// The frames a nearest-frame render would repeat (JSON; not in mode vfr).
    pub freezes_url: Option<String>,
    pub metadata: Summary,
}

/// The most inputs one batch may hold.
pub const MAX_BATCH: usize = 64;

/// `POST /batch`: several syncs, processed with bounded concurrency.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    #[schemars(length(min = 1, max = 64))]
    pub inputs: Vec<SyncInput>,
}

/// One result per input, in order: each its own output or its own error.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct BatchOutput {
    pub outputs: Vec<BatchItem>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum BatchItem {
    Ok(Box<SyncResult>),
    Failed(ErrorBody),
}

/// `POST /pipelines/{name}`: any pipeline the server allows, inputs by URL.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineInput {
    /// Pipeline input name -> URL (same schemes as `video_url`).
    pub inputs: BTreeMap<String, String>,
    /// `stage.param` -> value, applied as typed overrides.
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// The outputs to return (every declared output when absent).
    #[serde(default)]
    pub outputs: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PipelineOutput {
    /// Output name -> URL.
    pub outputs: BTreeMap<String, String>,
    /// Each stage: ran or cached, and its seconds.
    pub stages: Vec<vantage_app::summary::StageTiming>,
    pub seconds: f64,
}

/// A request that did not work: what is wrong, its class, and what the
/// caller can change. 422 for the request's own fault, 499 cancelled, 500 ours.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub detail: String,
    pub error_type: String,
    /// Input fields that would make the request work, with accepted values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remedies: Vec<FieldRemedy>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldRemedy {
    /// The input field (or `stage.param` for `/pipelines`) to set.
    pub field: String,
    pub choices: Vec<String>,
}

/// A 422 for a body that does not fit the schema (FastAPI's shape, which the
/// fal clients turn into their validation errors).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ValidationErrors {
    pub detail: Vec<FieldError>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct FieldError {
    /// Where: `["body", "video_url"]`, `["body", "inputs", 2, "fps"]`.
    pub loc: Vec<Value>,
    pub msg: String,
    /// `missing`, `extra_forbidden`, `enum`, `type_error`, `url_scheme`, ...
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    pub fn new(loc: Vec<Value>, msg: impl Into<String>, kind: &str) -> Self {
        FieldError {
            loc,
            msg: msg.into(),
            kind: kind.into(),
        }
    }
}

/// A `/stream` event: progress while running, then the result or the error.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    Progress {
        stage: String,
        /// 0..100 for the stage.
        percent: f32,
        message: String,
    },
    Result(Box<SyncResult>),
    Error(ErrorBody),
}

/// `GET /requests`: the queue's most recent requests, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RecentRequests {
    pub requests: Vec<RequestSummary>,
}

/// One queued request as the queue's durable state holds it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RequestSummary {
    pub request_id: String,
    /// The `owner/alias` it was submitted under (empty without one).
    pub app: String,
    /// `sync`, `diagnostic`, `batch`, `stream`, `pipelines/NAME`.
    pub endpoint: String,
    /// `IN_QUEUE`, `IN_PROGRESS` or `COMPLETED`, as the status endpoint says.
    pub status: String,
    pub queue_position: Option<usize>,
    /// For a completed request that failed: the message and its class
    /// (`client_cancelled` when it was cancelled).
    pub error: Option<String>,
    pub error_type: Option<String>,
    /// ISO 8601 times.
    pub submitted_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// A sync's inputs (absent when sent as `data:` URIs) and RIFE mode.
    pub video_url: Option<String>,
    pub audio_url: Option<String>,
    pub rife_mode: Option<String>,
}

/// `GET /health`, `/health/ready`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// `starting`, `ready` or `draining`.
    pub status: String,
    pub running: usize,
    pub queued: usize,
    pub version: String,
}
