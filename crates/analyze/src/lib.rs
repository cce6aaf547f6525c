//! `analyze`: align the source's speech to the target's, without a transcript.
//!
//! features (MFCC, 10 ms hop, per-file normalisation) -> voice activity ->
//! multi-resolution DTW with slope constraints and free pauses -> a smoothed,
//! strictly increasing [`vantage_core::Warp`] plus confidence figures.

mod align;
mod dtw;
mod features;
mod stage;
mod vad;
pub mod words;

pub use align::{align, require_speech, AlignError, AlignOptions, AlignResult, Anchor};
pub use stage::Analyze;
pub use vad::voice_activity;
