//! Small, inspectable JSON artifacts passed between stages.
//!
//! Heavy media crosses stage boundaries as files; everything a late stage needs
//! to *decide* what to do travels in these, so re-running it never re-decodes
//! or re-analyses what did not change.

use crate::warp::Warp;
use serde::{Deserialize, Serialize};

/// An exact frame rate, e.g. 30000/1001.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rational {
    pub num: u32,
    pub den: u32,
}

impl Rational {
    pub fn as_f64(self) -> f64 {
        self.num as f64 / self.den.max(1) as f64
    }

    /// Parse "24", "24/1", "30000/1001" or "29.97" (snapped to the NTSC rates).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Some((n, d)) = text.split_once('/') {
            let (num, den): (u32, u32) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
            let plausible = num > 0 && den > 0 && num as f64 / den as f64 <= 1000.0;
            return plausible.then_some(Self { num, den });
        }
        let v: f64 = text.parse().ok()?;
        if !(v.is_finite() && v > 0.0 && v <= 1000.0) {
            return None;
        }
        for ntsc in [24u32, 30, 60] {
            let r = Self {
                num: ntsc * 1000,
                den: 1001,
            };
            if (r.as_f64() - v).abs() < 0.005 {
                return Some(r);
            }
        }
        if (v - v.round()).abs() < 1e-9 {
            return Some(Self {
                num: v.round() as u32,
                den: 1,
            });
        }
        Some(Self {
            num: (v * 1000.0).round() as u32,
            den: 1000,
        })
    }
}

impl std::fmt::Display for Rational {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// What the pipeline needs to know about the source picture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// Average frame rate.
    pub fps: Rational,
    /// Presentation time of every frame in seconds, from the first frame at 0.
    pub frame_times: Vec<f64>,
    /// Stream duration in seconds (last frame's end).
    pub duration: f64,
    /// True when the frame intervals are not all equal.
    pub vfr: bool,
}

impl VideoInfo {
    pub fn frame_count(&self) -> usize {
        self.frame_times.len()
    }

    /// Fractional frame index shown at source time `s` (clamped to the stream).
    pub fn position_at(&self, s: f64) -> f64 {
        let times = &self.frame_times;
        let last = times.len().saturating_sub(1);
        if times.len() < 2 || s <= times[0] {
            return 0.0;
        }
        if s >= times[last] {
            return last as f64;
        }
        let i = times.partition_point(|&t| t <= s) - 1;
        let span = times[i + 1] - times[i];
        i as f64
            + if span > 0.0 {
                (s - times[i]) / span
            } else {
                0.0
            }
    }
}

/// How much to trust an alignment, with the figures behind the score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    /// 0 (no evidence the two audios say the same thing) .. 1 (clean match).
    pub score: f64,
    /// Mean feature distance along the alignment path, over speech.
    pub path_cost: f64,
    /// Mean feature distance between unrelated speech frames (the chance level).
    pub chance_cost: f64,
    /// Share of the path's speech that moves at a plausible rate (0.5x..2x).
    pub plausible_rate_share: f64,
    /// Seconds of detected speech in source and target.
    pub source_speech_s: f64,
    pub target_speech_s: f64,
    /// How the two transcripts' words matched, when transcripts were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<WordMatch>,
    /// Human-readable warnings (empty when the alignment looks sound).
    pub warnings: Vec<String>,
}

/// How the words of the source and target transcripts correspond.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WordMatch {
    pub source_words: usize,
    pub target_words: usize,
    /// Word pairs judged the same or nearly the same word (identical ones anchor the alignment).
    pub matched: usize,
    /// matched / max(source_words, target_words).
    pub match_ratio: f64,
    /// Words only one side says (after alignment), in order.
    pub unmatched_source: Vec<String>,
    pub unmatched_target: Vec<String>,
    /// The matched pairs, in order, with their times.
    #[serde(default)]
    pub pairs: Vec<WordPair>,
    /// Where the unmatched words are: middle of each, in its own side's time.
    #[serde(default)]
    pub unmatched_source_at: Vec<f64>,
    #[serde(default)]
    pub unmatched_target_at: Vec<f64>,
}

/// Two words judged the same (or nearly the same) word, and where each is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WordPair {
    pub source_word: String,
    pub target_word: String,
    /// Middle of the word in source time (the picture's clock) and target time.
    pub source: f64,
    pub target: f64,
    /// Offered to the alignment as an anchor (identical and confidently heard).
    pub anchor: bool,
}

/// Output of `transcribe`: what was said, word by word, with times.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// Model name or path.
    pub model: String,
    /// Language code, given or detected (`en`, `de`, ...).
    pub language: String,
    /// Seconds of audio transcribed.
    pub duration: f64,
    pub segments: Vec<TranscriptSegment>,
    pub words: Vec<Word>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranscriptSegment {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Word {
    /// As recognised, with punctuation (`Yesterday,`).
    pub text: String,
    pub start: f64,
    pub end: f64,
    /// Mean token probability (0..1).
    pub probability: f64,
}

/// Output of `analyze`: the warp plus everything downstream stages need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alignment {
    pub warp: Warp,
    pub source_duration: f64,
    pub target_duration: f64,
    pub video: VideoInfo,
    pub confidence: Confidence,
    /// Number of externally supplied anchors (e.g. matched words) that constrained the alignment.
    pub anchors_used: usize,
}

/// Output of `retime`: for every output frame, the fractional source frame it shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FramePlan {
    pub fps: Rational,
    pub width: u32,
    pub height: u32,
    pub source_frames: usize,
    /// Non-decreasing fractional source frame indices, one per output frame.
    pub positions: Vec<f64>,
}

impl FramePlan {
    /// Sample the alignment at `fps`: output frame k, shown at k/fps in the
    /// target's timeline, shows the source at `warp.source_at(k/fps)`. The plan
    /// covers the whole target audio.
    pub fn from_alignment(alignment: &Alignment, fps: Rational) -> Self {
        let count = (alignment.target_duration * fps.as_f64()).round().max(1.0) as usize;
        let positions = (0..count)
            .map(|k| {
                let t = k as f64 / fps.as_f64();
                alignment.video.position_at(alignment.warp.source_at(t))
            })
            .collect();
        Self {
            fps,
            width: alignment.video.width,
            height: alignment.video.height,
            source_frames: alignment.video.frame_count(),
            positions,
        }
    }

    /// The frame a nearest-frame resample shows for each output frame.
    pub fn nearest_frames(&self) -> impl Iterator<Item = usize> + '_ {
        let last = self.source_frames.saturating_sub(1);
        self.positions
            .iter()
            .map(move |p| (p.round().max(0.0) as usize).min(last))
    }
}

/// How one output frame of a render was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Made {
    /// A decoded source frame, as it is.
    Real,
    /// A cross-fade of two consecutive source frames.
    Blended,
    /// Synthesised by RIFE between two consecutive source frames.
    Synthesised,
}

/// One output frame of a render and the source frames it came from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenderedFrame {
    pub made: Made,
    /// The source frame shown ([`Made::Real`]), or the first of the two
    /// it was made from.
    pub source: usize,
    /// How far from `source` toward `source + 1` a blended or synthesised
    /// frame sits (0..1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    /// It would have been synthesised, but its two source frames are
    /// different shots: it shows the nearest real frame instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guarded: bool,
}

/// What a render did, frame by frame (`interpolate` writes it beside the
/// video; the diagnostic and the report read it rather than guess).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RenderLog {
    /// The interpolation mode the render used.
    pub mode: String,
    pub frames: Vec<RenderedFrame>,
    /// Source frames `k` where `k → k+1` is a cut (every pair the render
    /// read past is checked).
    pub cuts: Vec<usize>,
}

impl RenderLog {
    /// For each cut, the first output frame that shows the shot after it.
    pub fn cut_frames(&self) -> Vec<usize> {
        self.cuts
            .iter()
            .map(|&c| self.frames.partition_point(|f| f.source <= c))
            .collect()
    }

    /// Frames made by RIFE or a blend.
    pub fn synthesised(&self) -> usize {
        self.frames.iter().filter(|f| f.made != Made::Real).count()
    }

    /// Frames that show the nearest real frame because of a cut.
    pub fn guarded(&self) -> usize {
        self.frames.iter().filter(|f| f.guarded).count()
    }
}

/// A run of output frames that a nearest-frame resample would show as one frozen picture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FreezeSegment {
    /// First output frame of the run (it shows `source_frame` for the first time).
    pub start_frame: usize,
    /// Number of output frames in the run, all showing the same source frame (>= 2).
    pub frames: usize,
    pub source_frame: usize,
    pub start_s: f64,
    pub duration_s: f64,
    pub severity: Severity,
}

/// How bad a freeze is, by the frames it repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// One repeated frame.
    Minor,
    /// Two or three.
    Moderate,
    /// Four or more.
    Severe,
}

impl Severity {
    /// The severity of a run that shows one source frame `frames` times in a row.
    pub fn of_run(frames: usize) -> Self {
        match frames.saturating_sub(1) {
            0 | 1 => Severity::Minor,
            2 | 3 => Severity::Moderate,
            _ => Severity::Severe,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Severity::Minor => "minor",
            Severity::Moderate => "moderate",
            Severity::Severe => "severe",
        }
    }

    /// Its colour wherever a freeze is drawn: yellow, orange, red.
    pub const fn rgb(self) -> (u8, u8, u8) {
        match self {
            Severity::Minor => (255, 210, 0),
            Severity::Moderate => (255, 120, 0),
            Severity::Severe => (230, 0, 0),
        }
    }
}

/// Output of `predict-freeze`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FreezePlan {
    pub fps: Rational,
    pub output_frames: usize,
    /// Output frames that repeat their predecessor under nearest-frame resampling.
    pub repeated_frames: usize,
    /// Source frames never shown under nearest-frame resampling.
    pub dropped_frames: usize,
    pub segments: Vec<FreezeSegment>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!(Rational::parse("24"), Some(Rational { num: 24, den: 1 }));
        assert_eq!(
            Rational::parse("30000/1001"),
            Some(Rational {
                num: 30000,
                den: 1001
            })
        );
        assert_eq!(
            Rational::parse("29.97"),
            Some(Rational {
                num: 30000,
                den: 1001
            })
        );
        assert_eq!(Rational::parse("0"), None);
        assert_eq!(Rational::parse("x"), None);
        assert_eq!(Rational::parse("5/0"), None);
        assert_eq!(Rational::parse("100000/1"), None);
    }

    #[test]
    fn position_interpolates_between_frame_times() {
        let v = VideoInfo {
            width: 2,
            height: 2,
            fps: Rational { num: 10, den: 1 },
            frame_times: vec![0.0, 0.1, 0.3],
            duration: 0.4,
            vfr: true,
        };
        assert_eq!(v.position_at(-1.0), 0.0);
        assert!((v.position_at(0.05) - 0.5).abs() < 1e-12);
        assert!((v.position_at(0.2) - 1.5).abs() < 1e-12);
        assert_eq!(v.position_at(9.0), 2.0);
    }
}
