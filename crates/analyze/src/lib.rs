//! `analyze`: align the source's speech to the target's, without a transcript.
//!
//! features (MFCC c0..c7 and deltas, 10 ms hop, per-file normalisation; the
//! target's also at five vocal tract lengths, the best-matching kept; and,
//! from the transcribe stages, Whisper's encoder states every 20 ms) ->
//! voice activity -> multi-resolution DTW with slope constraints and free
//! pauses, on cepstral and state distances mixed -> knots at word edges
//! and, inside words, where the path strays
//! from a straight line -> a strictly increasing [`vantage_core::Warp`]
//! plus confidence figures.
//!
//! * `align`: multi-resolution anchored DTW over the features, the warp, confidence.
//! * `dtw`: the slope-constrained DTW with free pauses, in a band.
//! * [`words`]: matching two transcripts word by word (anchors, WER).
//! * `stage`: the `analyze` stage.
//!
//! Features and voice activity come from `vantage-dsp`.

mod align;
mod dtw;
mod stage;
pub mod words;

pub use align::{
    align, check_speech, AlignError, AlignOptions, AlignResult, Anchor, Sound, STATE_FRAMES,
};
pub use stage::Analyze;
