//! Types shared by every Vantage crate.
//!
//! * [`warp`]: the monotone source↔target time map and its "timecode v2" form.
//! * [`artifacts`]: the small JSON artifacts that cross stage boundaries.
//! * [`stage`]: the interface a pipeline stage implements for the runner.
//! * [`process`]: child processes that die with us (ffmpeg, `exec` commands).
//! * [`loaded`]: models kept loaded between runs, within a memory budget.
//! * [`segments`]: long renders in segments, made here and by peers.
//! * [`states`]: Whisper's encoder states, from transcription to alignment.

pub mod artifacts;
pub mod loaded;
pub mod process;
pub mod segments;
pub mod stage;
pub mod states;
pub mod warp;

pub use artifacts::{
    Alignment, Confidence, FramePlan, FreezePlan, FreezeSegment, Made, Rational, RenderLog,
    RenderedFrame, Severity, Transcript, TranscriptSegment, VideoInfo, Word, WordMatch, WordPair,
};
pub use stage::{
    CancelToken, ErrorKind, ParamKind, ParamSpec, Params, Peers, Pieces, Port, PortType, Ports,
    Progress, Resources, Stage, StageContext, StageError,
};
pub use states::States;
pub use warp::{Knot, Warp, WarpError};

/// Vantage's own folder: `$VANTAGE_HOME`, or `~/.cache/vantage`. The cache
/// and the weights live under it.
pub fn home_dir() -> std::path::PathBuf {
    use std::path::PathBuf;
    std::env::var_os("VANTAGE_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("vantage"))
        })
        .unwrap_or_else(|| PathBuf::from(".vantage"))
}

/// What a stage says when asked for `cuda` in a build without it.
pub const NO_CUDA_BUILD: &str = "this build has no CUDA support; use device cpu, or rebuild with `--features cuda` (the README's \"GPU build\" says how)";
