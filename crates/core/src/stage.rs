//! The interface between the runner and a stage.
//!
//! A stage declares typed input/output ports and typed parameters; the runner
//! validates a pipeline against those declarations before anything runs, then
//! calls [`Stage::run`] on a blocking thread with files for every port.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What flows through a port. Types form a small hierarchy: see [`PortType::accepts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortType {
    /// Any file.
    File,
    /// Any audio or video file ffmpeg can read.
    Media,
    /// Media with a video stream.
    Video,
    /// Media with an audio stream.
    Audio,
    /// 16 kHz mono 16-bit PCM WAV.
    Wav,
    /// Any JSON document.
    Json,
    /// An [`crate::Alignment`] (warp + source video facts) as JSON.
    Alignment,
    /// A [`crate::FramePlan`] as JSON.
    FramePlan,
    /// A [`crate::FreezePlan`] as JSON.
    FreezePlan,
    /// A [`crate::RenderLog`] (how each output frame was made) as JSON.
    RenderLog,
    /// A [`crate::Transcript`] (words with times) as JSON.
    Transcript,
    /// "timecode format v2" text.
    Timecodes,
    /// Whisper's encoder states of an audio ([`crate::States`]).
    States,
}

impl PortType {
    pub const ALL: [PortType; 13] = [
        PortType::File,
        PortType::Media,
        PortType::Video,
        PortType::Audio,
        PortType::Wav,
        PortType::Json,
        PortType::Alignment,
        PortType::FramePlan,
        PortType::FreezePlan,
        PortType::RenderLog,
        PortType::Transcript,
        PortType::Timecodes,
        PortType::States,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PortType::File => "file",
            PortType::Media => "media",
            PortType::Video => "video",
            PortType::Audio => "audio",
            PortType::Wav => "wav",
            PortType::Json => "json",
            PortType::Alignment => "alignment",
            PortType::FramePlan => "frame-plan",
            PortType::FreezePlan => "freeze-plan",
            PortType::RenderLog => "render-log",
            PortType::Transcript => "transcript",
            PortType::Timecodes => "timecodes",
            PortType::States => "states",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// File extension used when the artifact is materialised.
    pub fn extension(self) -> &'static str {
        match self {
            PortType::Video | PortType::Media => "mp4",
            PortType::Audio => "m4a",
            PortType::Wav => "wav",
            PortType::Json
            | PortType::Alignment
            | PortType::FramePlan
            | PortType::FreezePlan
            | PortType::RenderLog
            | PortType::Transcript => "json",
            PortType::Timecodes => "txt",
            PortType::File | PortType::States => "bin",
        }
    }

    fn parent(self) -> Option<PortType> {
        match self {
            PortType::File => None,
            PortType::Media | PortType::Json | PortType::Timecodes | PortType::States => {
                Some(PortType::File)
            }
            PortType::Video | PortType::Audio => Some(PortType::Media),
            PortType::Wav => Some(PortType::Audio),
            PortType::Alignment
            | PortType::FramePlan
            | PortType::FreezePlan
            | PortType::RenderLog
            | PortType::Transcript => Some(PortType::Json),
        }
    }

    /// Whether an input of type `self` can be fed by an output of type `given`.
    pub fn accepts(self, given: PortType) -> bool {
        let mut t = Some(given);
        while let Some(ty) = t {
            if ty == self {
                return true;
            }
            t = ty.parent();
        }
        false
    }
}

impl std::fmt::Display for PortType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    pub name: String,
    pub ty: PortType,
    pub required: bool,
}

impl Port {
    pub fn required(name: &str, ty: PortType) -> Self {
        Self {
            name: name.into(),
            ty,
            required: true,
        }
    }
    pub fn optional(name: &str, ty: PortType) -> Self {
        Self {
            name: name.into(),
            ty,
            required: false,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ports {
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ParamKind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    Choice(&'static [&'static str]),
    Text,
    /// A frame rate ("24", "30000/1001", "29.97") or "source" for the source's own rate.
    Rate,
    /// A list of strings (e.g. a command line).
    TextList,
    /// A map from name to port type name (e.g. an exec stage's declared outputs).
    PortMap,
}

impl ParamKind {
    pub fn describe(&self) -> String {
        match self {
            ParamKind::Bool => "true or false".into(),
            ParamKind::Int { min, max } => format!("an integer in {min}..={max}"),
            ParamKind::Float { min, max } => format!("a number in {min}..={max}"),
            ParamKind::Choice(c) => format!("one of {}", c.join(", ")),
            ParamKind::Text => "a string".into(),
            ParamKind::Rate => "a frame rate such as 24, 25, 30000/1001, or \"source\"".into(),
            ParamKind::TextList => "a list of strings".into(),
            ParamKind::PortMap => format!(
                "a map of name: type (types: {})",
                PortType::ALL.map(|t| t.name()).join(", ")
            ),
        }
    }

    /// Check (and normalise, e.g. 3 -> 3.0 for floats) a value of this kind.
    pub fn check(&self, v: &Value) -> Result<Value, String> {
        let bad = || Err(format!("expected {}, got {v}", self.describe()));
        match self {
            ParamKind::Bool => v.as_bool().map(Value::Bool).map_or_else(bad, Ok),
            ParamKind::Int { min, max } => match v.as_i64() {
                Some(i) if (*min..=*max).contains(&i) => Ok(Value::from(i)),
                _ => bad(),
            },
            ParamKind::Float { min, max } => match v.as_f64() {
                Some(f) if f.is_finite() && (*min..=*max).contains(&f) => Ok(Value::from(f)),
                _ => bad(),
            },
            ParamKind::Choice(c) => match v.as_str() {
                Some(s) if c.contains(&s) => Ok(v.clone()),
                _ => bad(),
            },
            ParamKind::Text => match v {
                Value::String(_) => Ok(v.clone()),
                Value::Number(n) => Ok(Value::String(n.to_string())),
                _ => bad(),
            },
            ParamKind::Rate => {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return bad(),
                };
                if text == "source" || crate::Rational::parse(&text).is_some() {
                    Ok(Value::String(text))
                } else {
                    bad()
                }
            }
            ParamKind::TextList => match v.as_array() {
                Some(items) if !items.is_empty() => items
                    .iter()
                    .map(|i| match i {
                        Value::String(_) => Ok(i.clone()),
                        Value::Number(n) => Ok(Value::String(n.to_string())),
                        _ => Err(format!("expected {}, got item {i}", self.describe())),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array),
                _ => bad(),
            },
            ParamKind::PortMap => match v.as_object() {
                Some(m) => {
                    for (name, ty) in m {
                        if ty.as_str().and_then(PortType::parse).is_none() {
                            return Err(format!(
                                "'{name}: {ty}' is not a port type ({})",
                                self.describe()
                            ));
                        }
                    }
                    Ok(v.clone())
                }
                None => bad(),
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    /// `None` makes the parameter required.
    pub default: Option<Value>,
    pub help: &'static str,
}

impl ParamSpec {
    pub fn new(name: &'static str, kind: ParamKind, default: Value, help: &'static str) -> Self {
        Self {
            name,
            kind,
            default: Some(default),
            help,
        }
    }
    pub fn required(name: &'static str, kind: ParamKind, help: &'static str) -> Self {
        Self {
            name,
            kind,
            default: None,
            help,
        }
    }
}

/// Validated parameters with defaults filled in; sorted, so canonical for hashing.
pub type Params = BTreeMap<String, Value>;

/// What a stage occupies while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resources {
    /// CPU slots: threads the stage keeps busy (the runner has one slot per
    /// core by default and grants at most all of them, so `usize::MAX` asks
    /// for every core). The stage learns what it got from
    /// [`StageContext::threads`].
    pub cpu: usize,
    /// Whether the stage needs the GPU slot.
    pub gpu: bool,
}

impl Default for Resources {
    fn default() -> Self {
        Self { cpu: 1, gpu: false }
    }
}

/// A flag that stops work cooperatively (Ctrl-C, a failed sibling, a server cancel).
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// `Err(Cancelled)` once cancelled: sprinkle `ctx.cancel.check()?` in long loops.
    pub fn check(&self) -> Result<(), StageError> {
        if self.is_cancelled() {
            Err(StageError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// What kind of failure a stage had. Front ends map it to an exit code or an
/// HTTP status, and render their own hint from the error's detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The inputs cannot work (wrong kind of media, silence, ...): the user must change them.
    InvalidInput,
    /// Model weights are not installed (or are damaged).
    MissingWeights,
    /// Source and target do not say the same words.
    DifferentContent,
    /// An external tool (ffmpeg, an `exec` command) failed.
    ToolFailure,
    Cancelled,
    /// A bug, or the machine (disk full, ...): not the user's inputs.
    Internal,
}

impl ErrorKind {
    /// Whether the user's request (inputs, parameters, installed weights) is at fault.
    pub fn is_users(self) -> bool {
        matches!(
            self,
            ErrorKind::InvalidInput | ErrorKind::MissingWeights | ErrorKind::DifferentContent
        )
    }
}

/// Why a stage failed. Messages say what is wrong in the stage's own terms;
/// what the user should do about it is structured (a parameter and the
/// values that accept the input, weights to install) so that the CLI can say
/// "rerun with --on-mismatch acoustic" and the server can return a field.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{0}")]
    InvalidInput(String),
    /// `fetch`: the name of known weights that would fix it, if any.
    #[error("{message}")]
    MissingWeights {
        message: String,
        fetch: Option<String>,
    },
    /// `param` set to one of `choices` accepts such inputs anyway.
    #[error("{message}")]
    DifferentContent {
        message: String,
        param: &'static str,
        choices: &'static [&'static str],
    },
    #[error("{0}")]
    Tool(String),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Internal(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl StageError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StageError {
        let context = context.into();
        move |source| StageError::Io { context, source }
    }

    pub fn internal(message: impl Into<String>) -> StageError {
        StageError::Internal(message.into())
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            StageError::InvalidInput(_) => ErrorKind::InvalidInput,
            StageError::MissingWeights { .. } => ErrorKind::MissingWeights,
            StageError::DifferentContent { .. } => ErrorKind::DifferentContent,
            StageError::Tool(_) => ErrorKind::ToolFailure,
            StageError::Cancelled => ErrorKind::Cancelled,
            StageError::Internal(_) | StageError::Io { .. } => ErrorKind::Internal,
        }
    }
}

/// Progress callback: fraction done in 0..=1 and a short message.
pub type Progress = Arc<dyn Fn(f32, &str) + Send + Sync>;

/// Finished pieces of one stage run (a long render's segments), cached on
/// their own: a rerun after a kill, or a replica sharing the remote cache,
/// picks up what is already done. A label names a piece within the run.
pub trait Pieces: Send + Sync {
    /// The stored file of piece `label`, if a run of the same stage key finished it.
    fn find(&self, label: &str) -> Result<Option<PathBuf>, StageError>;
    /// Store the finished file at `path` (it is moved) as piece `label`;
    /// returns where it now lives.
    fn keep(&self, label: &str, path: &std::path::Path) -> Result<PathBuf, StageError>;
}

/// Other replicas that can make pieces of this stage run: they read its
/// inputs from, and keep the piece in, the cache tier they share with it.
pub trait Peers: Send + Sync {
    /// How many there are.
    fn count(&self) -> usize;
    /// Where peer `peer` is, for messages.
    fn name(&self, peer: usize) -> String;
    /// Have peer `peer` make the piece `piece` describes (in the stage's
    /// own terms, as [`Stage::run_piece`] reads them) and keep it; returns
    /// once it has. `stop` is polled: true abandons the request. An error
    /// (the peer is gone, refused, or was stopped) means the piece is to be
    /// made elsewhere.
    fn make(&self, peer: usize, piece: &Value, stop: &dyn Fn() -> bool) -> Result<(), String>;
}

/// Everything a stage run sees: its input files, where to write its outputs, its
/// parameters, a progress reporter and a cancellation flag.
pub struct StageContext {
    pub stage_name: String,
    pub inputs: BTreeMap<String, PathBuf>,
    pub outputs: BTreeMap<String, PathBuf>,
    pub params: Params,
    pub cancel: CancelToken,
    /// Threads this run may use: the CPU slots it was granted.
    pub threads: usize,
    pub progress: Progress,
    /// Where the run keeps finished pieces (`None` outside the runner).
    pub pieces: Option<Arc<dyn Pieces>>,
    /// Replicas that can make pieces of this run (`None` when there are none).
    pub peers: Option<Arc<dyn Peers>>,
}

impl StageContext {
    /// Path of a connected input. The runner guarantees required inputs are present.
    pub fn input(&self, name: &str) -> Result<&Path, StageError> {
        self.inputs
            .get(name)
            .map(PathBuf::as_path)
            .ok_or_else(|| StageError::internal(format!("input '{name}' is not connected")))
    }

    pub fn optional_input(&self, name: &str) -> Option<&Path> {
        self.inputs.get(name).map(PathBuf::as_path)
    }

    /// Where to write the named output.
    pub fn output(&self, name: &str) -> Result<&Path, StageError> {
        self.outputs
            .get(name)
            .map(PathBuf::as_path)
            .ok_or_else(|| StageError::internal(format!("stage has no output named '{name}'")))
    }

    pub fn param(&self, name: &str) -> Result<&Value, StageError> {
        self.params.get(name).ok_or_else(|| {
            StageError::internal(format!("parameter '{name}' missing after validation"))
        })
    }

    pub fn param_f64(&self, name: &str) -> Result<f64, StageError> {
        self.param(name)?
            .as_f64()
            .ok_or_else(|| StageError::internal(format!("parameter '{name}' is not a number")))
    }

    pub fn param_i64(&self, name: &str) -> Result<i64, StageError> {
        self.param(name)?
            .as_i64()
            .ok_or_else(|| StageError::internal(format!("parameter '{name}' is not an integer")))
    }

    pub fn param_str(&self, name: &str) -> Result<&str, StageError> {
        self.param(name)?
            .as_str()
            .ok_or_else(|| StageError::internal(format!("parameter '{name}' is not a string")))
    }

    /// A `ParamKind::Rate` parameter, with "source" resolved to `source_rate`.
    pub fn param_rate(
        &self,
        name: &str,
        source_rate: crate::Rational,
    ) -> Result<crate::Rational, StageError> {
        let text = self.param_str(name)?;
        if text == "source" {
            return Ok(source_rate);
        }
        crate::Rational::parse(text).ok_or_else(|| {
            StageError::InvalidInput(format!("parameter '{name}': '{text}' is not a frame rate"))
        })
    }

    pub fn report(&self, fraction: f32, message: &str) {
        (self.progress)(fraction.clamp(0.0, 1.0), message);
    }

    /// Read and parse a JSON input artifact.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, StageError> {
        let path = self.input(name)?;
        let bytes =
            std::fs::read(path).map_err(StageError::io(format!("reading {}", path.display())))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            StageError::InvalidInput(format!(
                "input '{name}' ({}) is not valid: {e}",
                path.display()
            ))
        })
    }

    /// Serialise a JSON output artifact.
    pub fn write_json<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<(), StageError> {
        let path = self.output(name)?;
        let text = serde_json::to_vec_pretty(value)
            .map_err(|e| StageError::internal(format!("serialising '{name}': {e}")))?;
        std::fs::write(path, text).map_err(StageError::io(format!("writing {}", path.display())))
    }
}

/// A registered stage type.
pub trait Stage: Send + Sync + 'static {
    /// The name pipelines use in `uses:`.
    fn kind(&self) -> &'static str;
    /// Bump when the stage's output for the same inputs and params changes: it invalidates the cache.
    fn version(&self) -> u32;
    fn describe(&self) -> &'static str;
    fn params(&self) -> Vec<ParamSpec>;
    /// Ports, which may depend on validated params (`exec` declares its own).
    fn ports(&self, params: &Params) -> Ports;
    /// Whether inputs not listed in `ports` are allowed (as plain files).
    fn open_inputs(&self) -> bool {
        false
    }
    fn resources(&self, _params: &Params) -> Resources {
        Resources::default()
    }
    /// Digests of the model weights a run with `params` would use; part of
    /// the cache key. Asked before any stage runs: an error (weights not
    /// installed, usually [`StageError::MissingWeights`]) stops the pipeline
    /// up front.
    fn weight_digests(&self, _params: &Params) -> Result<Vec<String>, StageError> {
        Ok(Vec::new())
    }
    /// Inputs and parameters (by name) that only decide whether a run is
    /// refused, a check against another input, never what it makes. They
    /// are left out of the cache key: changing one reuses what was made.
    fn guards(&self) -> &'static [&'static str] {
        &[]
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError>;
    /// Make one piece of a run (see [`Peers`]) and keep it in `ctx.pieces`:
    /// this replica's share of a run another one leads. `ctx` is what
    /// [`Stage::run`] would see.
    fn run_piece(&self, _ctx: &StageContext, _piece: &Value) -> Result<(), StageError> {
        Err(StageError::InvalidInput(format!(
            "the {} stage is not made in pieces",
            self.kind()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_hierarchy() {
        assert!(PortType::Media.accepts(PortType::Video));
        assert!(PortType::Audio.accepts(PortType::Wav));
        assert!(PortType::File.accepts(PortType::FramePlan));
        assert!(!PortType::Video.accepts(PortType::Audio));
        assert!(!PortType::Wav.accepts(PortType::Audio));
        assert!(!PortType::Alignment.accepts(PortType::Json));
        for t in PortType::ALL {
            assert_eq!(PortType::parse(t.name()), Some(t));
        }
    }

    #[test]
    fn param_checks() {
        let f = ParamKind::Float { min: 0.0, max: 1.0 };
        assert_eq!(f.check(&Value::from(1)).unwrap(), Value::from(1.0));
        assert!(f.check(&Value::from(1.5)).is_err());
        assert!(f.check(&Value::from("x")).is_err());
        let c = ParamKind::Choice(&["a", "b"]);
        assert!(c.check(&Value::from("a")).is_ok());
        assert!(c
            .check(&Value::from("z"))
            .unwrap_err()
            .contains("one of a, b"));
        let r = ParamKind::Rate;
        assert_eq!(r.check(&Value::from(24)).unwrap(), Value::from("24"));
        assert!(r.check(&Value::from("source")).is_ok());
        assert!(r.check(&Value::from("fast")).is_err());
        let m = ParamKind::PortMap;
        assert!(m.check(&serde_json::json!({"x": "wav"})).is_ok());
        assert!(m.check(&serde_json::json!({"x": "nope"})).is_err());
    }
}
