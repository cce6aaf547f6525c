//! The numbers a caller reads to judge a finished sync at a glance:
//! durations, frame counts, how the frames were made, how sure the
//! alignment is, and what each stage cost.

use crate::AppError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vantage_core::{Alignment, FreezePlan, Made, RenderLog};
use vantage_runner::{RunOutcome, StageStatus};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Seconds of the source video and of the target audio.
    pub source_duration: f64,
    pub target_duration: f64,
    /// Source frame rate and frame count.
    pub source_fps: f64,
    pub source_frames: usize,
    /// Output frame rate and frame count (absent in mode vfr, which keeps
    /// every source frame and restamps it).
    pub fps: Option<f64>,
    pub output_frames: Option<usize>,
    /// How the delivered frames were made.
    pub real_frames: Option<usize>,
    pub blended_frames: Option<usize>,
    pub synthesized_frames: Option<usize>,
    /// Output frames that would repeat their predecessor, and source frames
    /// that would never be shown, under nearest-frame resampling.
    pub repeated_frames: Option<usize>,
    pub dropped_frames: Option<usize>,
    /// Scene cuts the render found (no frame is synthesised across one).
    pub cuts: Option<usize>,
    /// 0 (no evidence the two audios say the same thing) .. 1 (clean match).
    pub alignment_confidence: f64,
    /// matched words / the longer transcript's words, when words were compared.
    pub word_match: Option<f64>,
    /// Matched words that anchored the alignment.
    pub anchors_used: usize,
    /// What looks doubtful about the alignment (empty when it looks sound).
    pub warnings: Vec<String>,
    /// Each stage: ran or reused from the cache, and its seconds.
    pub stages: Vec<StageTiming>,
    /// Stages whose outputs came from the cache.
    pub cache_hits: usize,
    /// Seconds the whole run took.
    pub seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageTiming {
    pub name: String,
    /// `ran` or `cached`.
    pub status: String,
    pub seconds: f64,
}

impl Summary {
    /// The summary of a finished sync (or diagnostic) run.
    pub fn of(outcome: &RunOutcome) -> Result<Summary, AppError> {
        let alignment: Alignment = read_output(outcome, "alignment")?
            .ok_or_else(|| AppError::Internal("the run has no alignment".into()))?;
        let freezes: Option<FreezePlan> = read_output(outcome, "freezes")?;
        let log: Option<RenderLog> = read_output(outcome, "frames")?;
        let count = |made: Made| {
            log.as_ref()
                .map(|l| l.frames.iter().filter(|f| f.made == made).count())
        };
        let stages = Self::stage_timings(outcome);
        let video = &alignment.video;
        Ok(Summary {
            source_duration: alignment.source_duration,
            target_duration: alignment.target_duration,
            source_fps: video.fps.as_f64(),
            source_frames: video.frame_count(),
            fps: freezes.as_ref().map(|f| f.fps.as_f64()),
            output_frames: freezes.as_ref().map(|f| f.output_frames),
            real_frames: count(Made::Real),
            blended_frames: count(Made::Blended),
            synthesized_frames: count(Made::Synthesised),
            repeated_frames: freezes.as_ref().map(|f| f.repeated_frames),
            dropped_frames: freezes.as_ref().map(|f| f.dropped_frames),
            cuts: log.as_ref().map(|l| l.cuts.len()),
            alignment_confidence: alignment.confidence.score,
            word_match: alignment.confidence.words.as_ref().map(|w| w.match_ratio),
            anchors_used: alignment.anchors_used,
            warnings: alignment.confidence.warnings.clone(),
            cache_hits: stages.iter().filter(|s| s.status == "cached").count(),
            stages,
            seconds: outcome.seconds,
        })
    }
}

impl Summary {
    /// Each stage of `outcome`: ran or cached, and its seconds.
    pub fn stage_timings(outcome: &RunOutcome) -> Vec<StageTiming> {
        outcome
            .stages
            .iter()
            .map(|s| StageTiming {
                name: s.name.clone(),
                status: match s.status {
                    StageStatus::Ran => "ran",
                    StageStatus::Cached => "cached",
                    StageStatus::WouldRun => "would-run",
                }
                .into(),
                seconds: s.seconds,
            })
            .collect()
    }
}

/// The JSON output `name` of the run, if it has one.
pub(crate) fn read_output<T: serde::de::DeserializeOwned>(
    outcome: &RunOutcome,
    name: &str,
) -> Result<Option<T>, AppError> {
    let Some((path, _)) = outcome.outputs.get(name) else {
        return Ok(None);
    };
    let bytes =
        std::fs::read(path).map_err(|e| AppError::Internal(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| AppError::Internal(format!("{name}: {e}")))
}
