//! Speech signal processing shared by the stages that listen: `analyze`
//! (alignment features, pauses) and `transcribe` (snapping word edges to
//! speech). A crate of its own so that no stage depends on another.
//!
//! * [`features`]: MFCCs and their deltas at a 10 ms hop (own 512-point FFT), per-file normalisation.
//! * [`vad`]: voice activity from frame energy, with an adaptive threshold.

pub mod features;
pub mod vad;

pub use vad::voice_activity;
